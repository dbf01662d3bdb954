"""pconv.train.tasks: the inpainting and segmentation hooks against values computed plainly here, and infer_task."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from skimage.metrics import structural_similarity
from tiny_run import TinyInpaint, l1_terms
from torch import nn

from pconv.train.tasks import InpaintingTask, SegmentationTask, infer_task


def inpainting_batch(n=2, size=16):
    g = torch.Generator().manual_seed(3)
    image = torch.rand(n, 3, size, size, generator=g)  # (N, 3, H, W) in [0, 1]
    return {"image": image, "mask": (torch.rand(n, 1, size, size, generator=g) > 0.4).float()}  # 1 = known


def tiny_model():
    torch.manual_seed(0)
    return TinyInpaint().eval()  # eval: no dropout draws, the same output on every call


def test_inpainting_loss_runs_the_model_on_the_masked_image_and_returns_the_loss_terms():
    model, batch, task = tiny_model(), inpainting_batch(), InpaintingTask()
    image, mask = batch["image"], batch["mask"]
    seen = []
    with torch.no_grad():  # values only here; tests/train/test_engine.py follows the gradients
        terms = task.loss(lambda x, m: seen.append(x) or model(x, m), batch, l1_terms)
        output = model(image * mask, mask)[0]
    assert torch.equal(seen[0], image * mask)  # the holes are zero in what the model sees
    hole = ((1 - mask) * (output - image)).abs().mean()  # Liu et al. 2018, Eq. 1, written out
    valid = (mask * (output - image)).abs().mean()
    assert set(terms) == {"valid", "hole", "total"}
    assert float(terms["hole"]) == pytest.approx(float(hole)) and float(terms["valid"]) == pytest.approx(float(valid))
    assert float(terms["total"]) == pytest.approx(float(valid + 6 * hole))
    scalar = task.loss(model, batch, lambda output, image, mask: (output - image).abs().mean().detach())
    assert list(scalar) == ["total"]  # a loss function may return one scalar
    with pytest.raises(ValueError, match="'total'"):
        task.loss(model, batch, lambda output, image, mask: {"hole": hole})


def test_inpainting_metrics_score_the_composite_as_computed_plainly():
    model, batch = tiny_model(), inpainting_batch()
    image, mask = batch["image"], batch["mask"]
    with torch.no_grad():
        output = model(image * mask, mask)[0]
    comp = (mask * image + (1 - mask) * output).clamp(0, 1).double()  # known pixels kept, holes filled
    target = image.double()
    mse = ((comp - target) ** 2).flatten(1).mean(1)
    psnr = (10 * torch.log10(1 / mse)).mean()
    l1 = (comp - target).abs().flatten(1).mean(1).mean()
    ssim = np.mean(
        [
            structural_similarity(
                c.numpy(),
                t.numpy(),
                channel_axis=0,
                data_range=1.0,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )
            for c, t in zip(comp, target)
        ]
    )
    got = InpaintingTask().metrics(model, batch)
    assert got == pytest.approx({"psnr": float(psnr), "ssim": float(ssim), "l1": float(l1)}, rel=1e-4)


def test_segmentation_metrics_count_dice_and_iou_by_hand():
    target = torch.zeros(2, 1, 4, 4)
    target[0, 0, 0, :] = 1  # 6 foreground pixels in the first image
    target[0, 0, 1, :2] = 1
    logits = torch.full((2, 1, 4, 4), -5.0)
    logits[0, 0, 0, :3] = 5.0  # 4 predicted: 3 of them in the target
    logits[0, 0, 3, 3] = 5.0
    batch = {"image": torch.zeros(2, 3, 4, 4), "mask": target}  # the second image: both empty (scores 1)
    got = SegmentationTask().metrics(lambda image: logits, batch)
    dice = (2 * 3 / (4 + 6) + 1) / 2  # 2|P & T| / (|P| + |T|)
    iou = (3 / 7 + 1) / 2  # |P & T| / |P | T|: 3 of 7
    assert got == pytest.approx({"dice": dice, "iou": iou})
    terms = SegmentationTask().loss(lambda image: logits, batch, nn.BCEWithLogitsLoss())
    assert float(terms["total"]) == pytest.approx(float(nn.functional.binary_cross_entropy_with_logits(logits, target)))


def test_each_task_draws_a_figure_of_its_batch():
    fig = InpaintingTask().samples(tiny_model(), inpainting_batch())
    assert isinstance(fig, Figure) and len(fig.axes) >= 4 * 2  # masked input, output, composite, image per row
    seg = SegmentationTask().samples(lambda image: torch.zeros(2, 1, 16, 16), inpainting_batch())
    assert isinstance(seg, Figure) and len(seg.axes) >= 3 * 2


def test_infer_task_is_inpainting_for_a_model_with_inpaint_and_segmentation_otherwise():
    assert isinstance(infer_task(TinyInpaint()), InpaintingTask)
    assert isinstance(infer_task(nn.Conv2d(3, 1, 1)), SegmentationTask)
    assert (InpaintingTask.best_metric, SegmentationTask.best_metric) == ("psnr", "dice")
