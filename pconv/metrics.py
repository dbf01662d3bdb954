"""Image-quality and segmentation metrics, and the binned inpainting evaluation.

- `psnr`, `ssim`, `l1_error`: per-image scores of an inpainted composite against the
  ground truth (Liu et al. 2018, Table 1 reports all three per hole-ratio bin). `ssim`
  follows Wang et al. 2004 with scikit-image's conventions, so numbers match
  `skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False)`.
- `dice_score`, `iou_score` (and their per-image forms): the Kaggle Carvana metric,
  per-image overlap averaged over the batch, two empty masks scoring 1.
- `evaluate_inpainting`: the model and the classical baselines on a binned test-mask
  set, summarised in an `InpaintingReport` (text, Markdown and HTML tables).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from pconv.report import InpaintingReport, bin_label
from pconv.utils import resolve_device

__all__ = [
    "psnr",
    "ssim",
    "l1_error",
    "dice_per_image",
    "iou_per_image",
    "dice_score",
    "iou_score",
    "evaluate_inpainting",
    "InpaintingReport",
]

PSNR_CAP_DB = 100.0  # identical images would give inf; capping keeps means finite
SSIM_SIGMA, SSIM_RADIUS = 1.5, 5  # Wang et al. 2004: 11x11 Gaussian window, sigma 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _pair(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check two image batches agree and lift (C, H, W) to (1, C, H, W)."""
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if pred.dim() == 3:
        pred, target = pred.unsqueeze(0), target.unsqueeze(0)
    if pred.dim() != 4:
        raise ValueError(f"expected images (N, C, H, W) or (C, H, W), got shape {tuple(pred.shape)}")
    return pred, target


def _wide_float(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, `10 log10(data_range**2 / MSE)`, in dB.

    Identical images are capped at 100 dB (MSE floored at `data_range**2 * 1e-10`) so
    that means over a test set stay finite.

    Args:
        pred: (N, C, H, W) or (C, H, W), values in [0, data_range].
        target: same shape as `pred`.
        data_range: the span of valid values (1.0 for images in [0, 1]).

    Returns:
        (N,) float32 tensor of PSNR values in dB, at most 100.
    """
    pred, target = _pair(pred, target)
    wide = _wide_float(pred.device)
    mse = (pred.to(wide) - target.to(wide)).pow(2).flatten(1).mean(1)  # (N,)
    mse = mse.clamp_min(data_range**2 * 10 ** (-PSNR_CAP_DB / 10))
    return (10 * torch.log10(data_range**2 / mse)).float()


def _gaussian_window(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    x = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, device=device, dtype=dtype)
    g = torch.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    return g / g.sum()  # (11,)


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity per image (Wang et al. 2004), averaged over channels.

    Gaussian window 11x11 with sigma 1.5, K1 = 0.01, K2 = 0.03, population covariances.
    As in scikit-image, the SSIM map is averaged after cropping the 5-pixel border
    that the window overhangs; that crop makes the padding mode irrelevant, so the
    filtering here is a plain 'valid' convolution. Computed in float64 (float32 on MPS).

    Args:
        pred: (N, C, H, W) or (C, H, W) with H, W >= 11, values in [0, data_range].
        target: same shape as `pred`.
        data_range: the span of valid values (1.0 for images in [0, 1]).

    Returns:
        (N,) float32 tensor of mean SSIM values in [-1, 1].
    """
    pred, target = _pair(pred, target)
    n, c, h, w = pred.shape
    size = 2 * SSIM_RADIUS + 1
    if h < size or w < size:
        raise ValueError(f"ssim needs images of at least {size}x{size} pixels, got {h}x{w}")
    wide = _wide_float(pred.device)
    x, y = pred.to(wide), target.to(wide)
    g = _gaussian_window(x.device, wide)
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)  # (N, 5C, H, W)
    k = 5 * c
    stack = F.conv2d(stack, g.view(1, 1, 1, size).expand(k, 1, 1, size), groups=k)  # separable: rows
    stack = F.conv2d(stack, g.view(1, 1, size, 1).expand(k, 1, size, 1), groups=k)  # then columns
    ux, uy, uxx, uyy, uxy = stack.split(c, dim=1)  # each (N, C, H-10, W-10)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1).float()  # equal-size channels: mean of channel means


def l1_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per image.

    Args:
        pred: (N, C, H, W) or (C, H, W).
        target: same shape as `pred`.

    Returns:
        (N,) float32 tensor; for images in [0, 1] the values lie in [0, 1].
    """
    pred, target = _pair(pred, target)
    wide = _wide_float(pred.device)
    return (pred.to(wide) - target.to(wide)).abs().flatten(1).mean(1).float()


def _binarise(pred: torch.Tensor, target: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    if pred.dim() not in (3, 4) or target.dim() not in (3, 4):
        raise ValueError(
            f"pred and target must be (N, 1, H, W) or (N, H, W), got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    p, t = pred.flatten(1), target.flatten(1)  # (N, H*W)
    if p.shape != t.shape:
        raise ValueError(f"pred and target hold different sizes: {tuple(pred.shape)} vs {tuple(target.shape)}")
    return p > threshold, t > 0.5


def dice_per_image(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Dice coefficient `2|P & T| / (|P| + |T|)` per image; two empty masks score 1.

    Args:
        pred: (N, 1, H, W) or (N, H, W) probabilities or a binary mask (apply `sigmoid`
            to logits first); foreground is `pred > threshold`.
        target: same size as `pred`; foreground is `target > 0.5`.
        threshold: the probability above which a pixel counts as foreground.

    Returns:
        (N,) float32 tensor in [0, 1].
    """
    p, t = _binarise(pred, target, threshold)
    inter = (p & t).sum(1).float()
    total = p.sum(1).float() + t.sum(1).float()
    return torch.where(total > 0, 2 * inter / total.clamp_min(1), torch.ones_like(total))


def iou_per_image(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Intersection over union `|P & T| / |P | T|` per image; two empty masks score 1.

    Args and Returns: as for `dice_per_image`.
    """
    p, t = _binarise(pred, target, threshold)
    inter = (p & t).sum(1).float()
    union = (p | t).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def dice_score(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Mean per-image Dice over the batch (the Kaggle Carvana metric).

    Args:
        pred: (N, 1, H, W) or (N, H, W) probabilities or a binary mask; `pred > threshold`.
        target: same size as `pred`; foreground is `target > 0.5`.
        threshold: the probability above which a pixel counts as foreground.

    Returns:
        A 0-dim float32 tensor in [0, 1].
    """
    return dice_per_image(pred, target, threshold).mean()


def iou_score(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Mean per-image IoU (Jaccard index) over the batch; two empty masks score 1.

    Args and Returns: as for `dice_score`.
    """
    return iou_per_image(pred, target, threshold).mean()


# ---------------------------------------------------------------- report


def _image_at(images: Any, i: int) -> torch.Tensor:
    """Item i of a tensor, a list or a Dataset, as a (3, H, W) float tensor in [0, 1]."""
    item = images[i]
    if isinstance(item, dict):
        item = item["image"]
    elif isinstance(item, (tuple, list)):
        item = item[0]
    img = torch.as_tensor(item)
    if img.dtype == torch.uint8:
        img = img.float() / 255
    if img.dim() == 4 and img.shape[0] == 1:
        img = img[0]
    if img.dim() == 3 and img.shape[0] != 3 and img.shape[-1] == 3:
        img = img.permute(2, 0, 1)  # (H, W, 3) -> (3, H, W)
    if img.dim() != 3 or img.shape[0] != 3:
        raise ValueError(f"images[{i}] must be a (3, H, W) image, got shape {tuple(img.shape)}")
    return img.float().cpu()


def _fit(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Center-crop `image` (3, h, w) to the aspect ratio of `size` and resize it to `size`."""
    h, w = image.shape[-2:]
    if (h, w) == size:
        return image
    th, tw = size
    ch, cw = (h, round(h * tw / th)) if h * tw <= w * th else (round(w * th / tw), w)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = image[:, top : top + ch, left : left + cw].unsqueeze(0)  # (1, 3, ch, cw)
    out = F.interpolate(crop, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out[0].clamp(0, 1)


def _mask_entry(entry: Any, bins: Sequence[tuple[float, float]]) -> tuple[torch.Tensor, str]:
    """A test-mask entry (mask, bin) or a bare mask, as ((1, H, W) float mask, bin label)."""
    from pconv.masks import hole_ratio

    mask, hole_bin = entry if isinstance(entry, (tuple, list)) else (entry, None)
    mask = (torch.as_tensor(mask).cpu() > 0.5).float()
    if mask.dim() == 2:
        mask = mask.unsqueeze(0)
    if mask.dim() != 3 or mask.shape[0] != 1:
        raise ValueError(f"test masks must be (1, H, W), got shape {tuple(mask.shape)}")
    if isinstance(hole_bin, str):  # already a label such as "10-20%"
        return mask, hole_bin
    if hole_bin is None:  # derive the bin from the hole ratio: lo < ratio <= hi
        ratio = hole_ratio(mask)
        hole_bin = next(((lo, hi) for lo, hi in bins if lo < ratio <= hi), None)
        return mask, bin_label(hole_bin) if hole_bin else "other"
    return mask, bin_label(tuple(hole_bin))


def _batches(pairs: list[tuple[int, torch.Tensor, str]], batch_size: int) -> Iterator[list]:
    """Consecutive runs of pairs with the same mask size, at most `batch_size` long."""
    run: list = []
    for pair in pairs:
        if run and (len(run) == batch_size or pair[1].shape != run[0][1].shape):
            yield run
            run = []
        run.append(pair)
    if run:
        yield run


def evaluate_inpainting(
    model: Any,
    images: Any,
    masks: Sequence[Any] | str | os.PathLike,
    *,
    methods: Sequence[str] | None = None,
    batch_size: int = 8,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> InpaintingReport:
    """Score the model and the classical baselines on a binned set of test masks.

    Pairing: with I images and M masks, pair k (k < max(I, M)) is image k % I with
    mask k % M, so every image and every mask is used at least once. An image whose
    size differs from its mask's is center-cropped to the mask's aspect ratio and
    resized (bilinear, antialiased). Scores are PSNR, SSIM and L1 of the composite
    `mask * image + (1 - mask) * output` over the whole image, averaged per bin.

    Args:
        model: an object with `inpaint(image, mask) -> composite` (e.g. `PConvUNet`), or
            None to score the baselines only. An `nn.Module` is moved to `device` and
            run in eval mode (its training flag is restored afterwards).
        images: a (N, 3, H, W) tensor in [0, 1], a list of (3, H, W) tensors, or a
            Dataset yielding such tensors or dicts with an "image" key.
        masks: a list of (mask (1, H, W), 1 = valid; bin (lo, hi)) as returned by
            `pconv.masks.load_test_masks`, or the path of such a test-mask folder.
            A bare mask (no bin) is binned by its hole ratio.
        methods: names to score, from "model" and `pconv.baselines.available_baselines()`;
            None means the model (if given) and every available baseline. Biharmonic is
            the slow one: about a second per 256x256 image with large holes.
        batch_size: images per `model.inpaint` call.
        device: where the model runs ("auto", "cpu", "cuda", ...); baselines run on CPU.
        progress: show a tqdm progress bar over the image-mask pairs.

    Returns:
        An `InpaintingReport` with rows = methods and columns = the hole-ratio bins of
        `pconv.masks.PAPER_HOLE_BINS` (plus any other bins the masks carry).
    """
    from tqdm.auto import tqdm

    from pconv.baselines import available_baselines
    from pconv.masks import PAPER_HOLE_BINS

    if isinstance(masks, (str, os.PathLike)):
        from pconv.masks import load_test_masks

        masks = load_test_masks(masks)
    entries = [_mask_entry(e, PAPER_HOLE_BINS) for e in masks]
    if not entries:
        raise ValueError("masks is empty: pass load_test_masks(...) output or a test-mask folder")
    n_images = len(images)
    if n_images == 0:
        raise ValueError("images is empty")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    baselines = available_baselines()
    if methods is None:
        methods = (["model"] if model is not None else []) + list(baselines)
    methods = list(methods)
    for name in methods:
        if name == "model" and model is None:
            raise ValueError('methods includes "model" but model is None')
        if name != "model" and name not in baselines:
            raise ValueError(f"unknown method {name!r}; available here: {['model', *baselines]}")
    if not methods:
        raise ValueError("nothing to evaluate: model is None and methods is empty")

    dev = resolve_device(device)
    was_training = None
    if isinstance(model, torch.nn.Module) and "model" in methods:
        was_training = model.training
        model.to(dev).eval()

    labels = [bin_label(b) for b in PAPER_HOLE_BINS]
    labels += sorted({lab for _, lab in entries} - set(labels))
    scores = {m: {lab: {"psnr": [], "ssim": [], "l1": []} for lab in labels} for m in methods}
    n_pairs = max(n_images, len(entries))
    pairs = [(k % n_images, *entries[k % len(entries)]) for k in range(n_pairs)]
    try:
        with tqdm(total=n_pairs, desc="evaluate", unit="img", disable=not progress) as bar:
            for run in _batches(pairs, batch_size):
                mask = torch.stack([m for _, m, _ in run])  # (B, 1, H, W)
                image = torch.stack([_fit(_image_at(images, i), tuple(m.shape[-2:])) for i, m, _ in run])
                for name in methods:
                    if name == "model":
                        with torch.no_grad():
                            output = model.inpaint(image.to(dev), mask.to(dev)).float().cpu().clamp(0, 1)
                    else:
                        output = baselines[name](image, mask)
                    comp = mask * image + (1 - mask) * output  # (B, 3, H, W)
                    values = {"psnr": psnr(comp, image), "ssim": ssim(comp, image), "l1": l1_error(comp, image)}
                    for j, (_, _, lab) in enumerate(run):
                        for key, v in values.items():
                            scores[name][lab][key].append(float(v[j]))
                bar.update(len(run))
    finally:
        if was_training is not None:
            model.train(was_training)

    results = {
        m: {
            lab: {
                **{k: (math.fsum(v) / len(v) if v else math.nan) for k, v in cell.items()},
                "n": len(cell["psnr"]),
            }
            for lab, cell in per_bin.items()
        }
        for m, per_bin in scores.items()
    }
    return InpaintingReport(results=results, methods=methods, bins=labels)
