"""Tests for pconv.evaluation.metrics: PSNR/SSIM/L1 against plain references, Dice/IoU by hand.

The binned evaluation (`evaluate_inpainting`, re-exported here) is tested in test_evaluate.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import structural_similarity

from pconv.evaluation.metrics import (
    dice_per_image,
    dice_score,
    iou_per_image,
    iou_score,
    l1_error,
    psnr,
    ssim,
)


@pytest.fixture(scope="module")
def astronaut() -> torch.Tensor:
    """Two 64x72 crops of scikit-image's astronaut, (2, 3, 64, 72) in [0, 1]."""
    photo = torch.from_numpy(data.astronaut().astype(np.float32) / 255).permute(2, 0, 1)
    return torch.stack([photo[:, 60:124, 180:252], photo[:, 300:364, 100:172]])


def noisy(image: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (image + sigma * torch.randn(image.shape, generator=g)).clamp(0, 1)


def skimage_ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    return structural_similarity(
        a.permute(1, 2, 0).double().numpy(),
        b.permute(1, 2, 0).double().numpy(),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1,
        channel_axis=-1,
    )


@pytest.mark.parametrize("sigma", [0.02, 0.1, 0.3])
def test_ssim_matches_scikit_image(astronaut, sigma):
    pred = noisy(astronaut, sigma)
    ours = ssim(pred, astronaut)
    assert ours.shape == (2,)
    for i in range(2):
        assert abs(ours[i].item() - skimage_ssim(pred[i], astronaut[i])) < 1e-3


def test_ssim_blurred_single_image_and_identity(astronaut):
    blurred = torch.nn.functional.avg_pool2d(astronaut, 3, stride=1, padding=1, count_include_pad=False)
    assert abs(ssim(blurred[0], astronaut[0]).item() - skimage_ssim(blurred[0], astronaut[0])) < 1e-3
    assert torch.allclose(ssim(astronaut, astronaut), torch.ones(2), atol=1e-6)
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.rand(1, 3, 8, 32), torch.rand(1, 3, 8, 32))


def test_psnr_plain_formula_and_cap(astronaut):
    pred = noisy(astronaut, 0.05)
    for i in range(2):
        mse = np.mean((pred[i].double().numpy() - astronaut[i].double().numpy()) ** 2)
        assert psnr(pred, astronaut)[i].item() == pytest.approx(10 * math.log10(1 / mse), abs=1e-4)
    assert psnr(astronaut * 255, astronaut * 255, data_range=255.0).tolist() == [100.0, 100.0]
    assert psnr(astronaut, astronaut).tolist() == [100.0, 100.0]  # capped, finite
    with pytest.raises(ValueError, match="same shape"):
        psnr(astronaut, astronaut[:1])


def test_l1_error():
    a = torch.zeros(2, 3, 4, 4)
    b = a.clone()
    b[0] += 0.5
    b[1, 0] = 1.0  # one channel of three fully wrong
    assert torch.allclose(l1_error(b, a), torch.tensor([0.5, 1 / 3]))


def test_dice_and_iou_by_hand():
    target = torch.zeros(1, 1, 2, 4)
    target[..., 0, :] = 1  # 4 foreground pixels
    pred = torch.zeros(1, 1, 2, 4)
    pred[..., :, 0] = 0.9  # 2 pixels, 1 overlapping
    assert dice_per_image(pred, target).item() == pytest.approx(2 * 1 / (2 + 4))
    assert iou_per_image(pred, target).item() == pytest.approx(1 / 5)
    # (N, H, W) works too and gives the same numbers
    assert dice_score(pred[:, 0], target[:, 0]).item() == pytest.approx(1 / 3)


def test_dice_empty_masks_and_threshold():
    empty = torch.zeros(1, 1, 3, 3)
    full = torch.ones(1, 1, 3, 3)
    assert dice_score(empty, empty).item() == 1.0 and iou_score(empty, empty).item() == 1.0
    assert dice_score(full, empty).item() == 0.0 and iou_score(empty, full).item() == 0.0
    probs = torch.full((1, 1, 3, 3), 0.6)
    assert dice_score(probs, full).item() == 1.0
    assert dice_score(probs, full, threshold=0.7).item() == 0.0
    assert dice_score(torch.full((1, 1, 3, 3), 0.5), full).item() == 0.0  # strictly greater


def test_scores_average_per_image():
    target = torch.zeros(3, 1, 4, 4)
    target[0, :, :2] = 1
    pred = target.clone()  # image 0 perfect, image 1 both empty, image 2 misses everything
    target[2, :, 0, 0] = 1
    dices = dice_per_image(pred, target)
    assert dices.tolist() == [1.0, 1.0, 0.0]
    assert dice_score(pred, target).item() == pytest.approx(2 / 3)
    assert dice_score(pred, target).dim() == 0
    with pytest.raises(ValueError, match="different sizes"):
        dice_score(pred, target[:, :, :2])
