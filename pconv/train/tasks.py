"""Task hooks: what one training step, one validation batch and one sample figure mean.

The trainer in `pconv.train.trainer` is task-agnostic; a task object tells it how to run
the model on a batch. Two tasks ship:

* `InpaintingTask` (partial-convolution inpainting, Liu et al. 2018): the batch
  is {"image", "mask"}, the model sees the masked image and the mask,
  `loss_fn(output, image, mask)` gives the loss terms, and validation scores the
  composite `mask * image + (1 - mask) * output` (PSNR, SSIM, L1).
* `SegmentationTask` (U-Net, Ronneberger et al. 2015): the batch is
  {"image", "mask"} with "mask" the target, the model returns logits,
  `loss_fn(logits, target)` (e.g. `bce_dice_loss`), validation scores Dice and IoU.

A custom task is any object with the same five members: `name`, `best_metric`
(a key of `metrics`, higher is better), `loss`, `metrics` and `samples` (which
returns a matplotlib Figure).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

from pconv.evaluation import dice_score, iou_score, l1_error, psnr, ssim
from pconv.nn import composite

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["InpaintingTask", "SegmentationTask", "infer_task"]

Batch = dict[str, torch.Tensor]


def _as_terms(out: torch.Tensor | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A loss function may return one scalar or a dict of terms with "total"."""
    if isinstance(out, torch.Tensor):
        return {"total": out}
    if "total" not in out:
        raise ValueError(f"a loss function returning a dict must include 'total'; got keys {sorted(out)}")
    return dict(out)


def _mean(x: torch.Tensor | float) -> float:
    return float(torch.as_tensor(x, dtype=torch.float32).mean())


class InpaintingTask:
    """Inpainting: model(image * mask, mask) -> (output, output_mask); composite-based metrics."""

    name = "inpainting"
    best_metric = "psnr"  # higher is better

    def loss(self, model: Callable, batch: Batch, loss_fn: Callable) -> dict[str, torch.Tensor]:
        """Loss terms for one batch: image (N, 3, H, W) in [0, 1], mask (N, 1, H, W), 1 = valid."""
        image, mask = batch["image"], batch["mask"]
        output, _ = model(image * mask, mask)  # (N, 3, H, W)
        return _as_terms(loss_fn(output, image, mask))

    @torch.no_grad()
    def metrics(self, model: Callable, batch: Batch) -> dict[str, float]:
        """Batch means of PSNR (dB), SSIM and L1 of the composite against the image."""
        image, mask = batch["image"].float(), batch["mask"].float()
        output, _ = model(image * mask, mask)
        comp = composite(image, mask, output.float()).clamp(0, 1)  # (N, 3, H, W)
        return {
            "psnr": _mean(psnr(comp, image)),
            "ssim": _mean(ssim(comp, image)),
            "l1": _mean(l1_error(comp, image)),
        }

    @torch.no_grad()
    def samples(self, model: Callable, batch: Batch) -> Figure:
        """A figure of masked input, output, composite and ground truth for the batch."""
        # here, not at the top: figures imports matplotlib (~1.5 s), which `import pconv.train` does not need
        from pconv.evaluation.figures import show_inpainting

        image, mask = batch["image"].float(), batch["mask"].float()
        output, _ = model(image * mask, mask)
        return show_inpainting(image.cpu(), mask.cpu(), output.float().clamp(0, 1).cpu())


class SegmentationTask:
    """Segmentation: logits = model(image); loss_fn(logits, target); Dice and IoU of sigmoid(logits)."""

    name = "segmentation"
    best_metric = "dice"  # higher is better

    def loss(self, model: Callable, batch: Batch, loss_fn: Callable) -> dict[str, torch.Tensor]:
        """Loss terms for one batch: image (N, C, H, W), mask (N, K, H, W) binary target."""
        logits = model(batch["image"])  # (N, K, H, W)
        return _as_terms(loss_fn(logits, batch["mask"]))

    @torch.no_grad()
    def metrics(self, model: Callable, batch: Batch) -> dict[str, float]:
        """Batch means of Dice and IoU of the thresholded probabilities."""
        prob = torch.sigmoid(model(batch["image"]).float())
        target = batch["mask"].float()
        return {"dice": _mean(dice_score(prob, target)), "iou": _mean(iou_score(prob, target))}

    @torch.no_grad()
    def samples(self, model: Callable, batch: Batch) -> Figure:
        """A figure of image, target and predicted mask for the batch."""
        # here, not at the top: figures imports matplotlib (~1.5 s), which `import pconv.train` does not need
        from pconv.evaluation.figures import show_segmentation

        prob = torch.sigmoid(model(batch["image"]).float())
        image, target = batch["image"].float().cpu(), batch["mask"].float().cpu()
        return show_segmentation(image, target, (prob > 0.5).float().cpu())


def infer_task(model: nn.Module) -> InpaintingTask | SegmentationTask:
    """Inpainting for models with an `.inpaint` method (PConvUNet), segmentation otherwise."""
    return InpaintingTask() if hasattr(model, "inpaint") else SegmentationTask()
