"""Tests for pconv.metrics: PSNR/SSIM/L1 against plain references, Dice/IoU by hand, evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import structural_similarity

from pconv.baselines import mean_fill
from pconv.masks import PAPER_HOLE_BINS
from pconv.metrics import (
    InpaintingReport,
    dice_per_image,
    dice_score,
    evaluate_inpainting,
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


class MeanFillModel:
    """A stand-in for PConvUNet: `inpaint` fills holes with the mean colour."""

    def __init__(self):
        self.calls = 0

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return mean_fill(image, mask)


def square_mask(size: int, hole: int) -> torch.Tensor:
    m = torch.ones(1, size, size)
    m[:, :hole, :hole] = 0
    return m


def test_evaluate_inpainting_table(astronaut):
    model = MeanFillModel()
    masks = [(square_mask(32, 8), (0.01, 0.1)), (square_mask(32, 12), (0.1, 0.2)), (square_mask(32, 13), (0.1, 0.2))]
    report = evaluate_inpainting(
        model, astronaut, masks, methods=["model", "mean_fill"], batch_size=2, device="cpu", progress=False
    )
    assert isinstance(report, InpaintingReport)
    assert report.methods == ["model", "mean_fill"] and len(report.bins) == 6 == len(PAPER_HOLE_BINS)
    assert report.bins[0] == "1-10%" and report.bins[-1] == "50-60%"
    counts = [report.results["model"][b]["n"] for b in report.bins]
    assert counts == [1, 2, 0, 0, 0, 0]  # 3 pairs: image k % 2 with mask k
    assert model.calls == 2  # batches of 2 then 1
    cell = report.results["model"]["10-20%"]
    assert cell["psnr"] == pytest.approx(report.results["mean_fill"]["10-20%"]["psnr"])
    assert 0 < cell["l1"] < 1 and 0 < cell["ssim"] < 1 and math.isfinite(cell["psnr"])
    assert math.isnan(report.results["model"]["50-60%"]["psnr"])

    text = report.to_text()
    lines = text.splitlines()
    assert "1-10%" in lines[0] and "50-60%" in lines[0]
    assert len(lines) == 2 + 1 + 3 * 2  # header, rule, n row, 3 metrics x 2 methods
    assert "\u2013" in text and "nan" not in text
    md = report.to_markdown()
    assert md.count("\n") == len(lines) - 1 and "| n | (images) | 1 | 2 | 0 |" in md
    assert report.to_html().startswith("<table>") and report._repr_html_() == report.to_html()
    assert report.best("psnr", (0.1, 0.2)) in {"model", "mean_fill"}
    with pytest.raises(ValueError, match="no images"):
        report.best("ssim", "50-60%")


def test_evaluate_inpainting_bins_resize_and_errors(astronaut):
    # one big image, two masks of another size: images are center-cropped and resized
    image = torch.rand(1, 3, 40, 60)
    hole = torch.ones(1, 24, 24)
    hole[:, :, :9] = 0  # 37.5% hole, binned from its hole ratio
    report = evaluate_inpainting(None, image, [hole, (square_mask(24, 4), None)], progress=False)
    assert "model" not in report.methods and "mean_fill" in report.methods
    assert report.results["mean_fill"]["30-40%"]["n"] == 1
    assert report.results["mean_fill"]["1-10%"]["n"] == 1
    best = report.best("l1", "30-40%")
    assert report.results[best]["30-40%"]["l1"] == min(report.results[m]["30-40%"]["l1"] for m in report.methods)

    data_set = [{"image": astronaut[0]}, {"image": astronaut[1]}]
    report = evaluate_inpainting(
        None, data_set, [(square_mask(32, 8), (0.01, 0.1))], methods=["mean_fill"], progress=False
    )
    assert report.results["mean_fill"]["1-10%"]["n"] == 2
    with pytest.raises(ValueError, match="model is None"):
        evaluate_inpainting(None, astronaut, [hole], methods=["model"], progress=False)
    with pytest.raises(ValueError, match="unknown method"):
        evaluate_inpainting(None, astronaut, [hole], methods=["magic"], progress=False)
    with pytest.raises(ValueError, match="masks is empty"):
        evaluate_inpainting(None, astronaut, [], progress=False)


class ModuleModel(torch.nn.Module):
    """An nn.Module with `inpaint`: checks eval mode during evaluation and the restored flag."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.modes: list[bool] = []

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        return (mask * image + (1 - mask) * 0.5 * self.scale).clamp(0, 1)


class TensorDataset(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[i], "mask": torch.ones(1, 4, 4)}


def test_evaluate_inpainting_mask_folder_dataset_and_module(monkeypatch, tmp_path, astronaut):
    import pconv.masks

    seen = []

    def fake_load(path):
        seen.append(path)
        return [(square_mask(32, 20), (0.3, 0.4)), (square_mask(32, 24), (0.5, 0.6))]

    monkeypatch.setattr(pconv.masks, "load_test_masks", fake_load, raising=False)
    model = ModuleModel().train()
    report = evaluate_inpainting(model, TensorDataset(astronaut), tmp_path, methods=["model"], progress=False)
    assert seen == [tmp_path]
    assert model.modes == [False] and model.training  # eval inside, training flag restored
    assert [report.results["model"][b]["n"] for b in report.bins] == [0, 0, 0, 1, 0, 1]
    assert report.best("psnr", "30-40%") == "model"
