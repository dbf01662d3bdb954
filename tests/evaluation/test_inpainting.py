"""Tests for pconv.evaluation.inpainting and the bins of pconv.evaluation.report: the paper's Table 1 evaluation.

`evaluate_inpainting` against hand-built masks and stand-in models, the report's tables, and
the hole-bin rule checked at every achievable ratio of a small mask against the paper's
intervals [0.01, 0.1], (0.1, 0.2], ..., (0.5, 0.6].
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage import data

from pconv.data import PAPER_HOLE_BINS, hole_ratio, irregular_mask
from pconv.data.hole_bins import bin_hole_range, bin_of
from pconv.evaluation import mean_fill
from pconv.evaluation.inpainting import InpaintingReport, evaluate_inpainting


@pytest.fixture(scope="module")
def astronaut() -> torch.Tensor:
    """Two 64x72 crops of scikit-image's astronaut, (2, 3, 64, 72) in [0, 1]."""
    photo = torch.from_numpy(data.astronaut().astype(np.float32) / 255).permute(2, 0, 1)
    return torch.stack([photo[:, 60:124, 180:252], photo[:, 300:364, 100:172]])


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
    import pconv.data.masks

    seen = []

    def fake_load(path):
        seen.append(path)
        return [(square_mask(32, 20), (0.3, 0.4)), (square_mask(32, 24), (0.5, 0.6))]

    monkeypatch.setattr(pconv.data.masks, "load_test_masks", fake_load, raising=False)
    model = ModuleModel().train()
    report = evaluate_inpainting(model, TensorDataset(astronaut), tmp_path, methods=["model"], progress=False)
    assert seen == [tmp_path]
    assert model.modes == [False] and model.training  # eval inside, training flag restored
    assert [report.results["model"][b]["n"] for b in report.bins] == [0, 0, 0, 1, 0, 1]
    assert report.best("psnr", "30-40%") == "model"


# --------------------------------------------------------------------------- the hole-bin rule


def paper_bin(ratio: float) -> tuple[float, float] | None:
    """Liu et al. 2018, Sec. 4.1, written plainly: [0.01, 0.1], (0.1, 0.2], ..., (0.5, 0.6]."""
    if 0.01 <= ratio <= 0.1:
        return (0.01, 0.1)
    for lo, hi in [(0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6)]:
        if lo < ratio <= hi:
            return (lo, hi)
    return None


def holes(size: int, count: int) -> torch.Tensor:
    """A (1, size, size) mask with exactly `count` hole pixels, row-major from the top left."""
    m = torch.ones(size * size)
    m[:count] = 0
    return m.view(1, size, size)


def test_bin_of_matches_the_paper_at_every_ratio_of_a_20x20_mask():
    # 400 pixels: every edge 0.01, 0.1, ..., 0.6 is an achievable ratio, exactly as a float64
    assert [hole_ratio(holes(20, c)) for c in (4, 40, 200, 240)] == [0.01, 0.1, 0.5, 0.6]
    for c in range(401):
        assert bin_of(c / 400, PAPER_HOLE_BINS) == paper_bin(c / 400), c
    assert bin_of(0.5, PAPER_HOLE_BINS) == (0.4, 0.5)  # the shared edge reachable at 256x256 (32768 holes)
    assert bin_of(0.01, PAPER_HOLE_BINS) == (0.01, 0.1)  # the lowest edge is in
    assert bin_of(math.nextafter(0.6, 1), PAPER_HOLE_BINS) is None and bin_of(0.0, PAPER_HOLE_BINS) is None


def test_bin_hole_range_edges():
    assert bin_hole_range((0.01, 0.1), PAPER_HOLE_BINS) == (0.01, 0.1)  # no bin ends at 0.01
    assert bin_hole_range((0.1, 0.2), PAPER_HOLE_BINS) == (math.nextafter(0.1, 1), 0.2)
    assert bin_hole_range((0.3, 0.4), [(0.1, 0.2), (0.3, 0.4)]) == (0.3, 0.4)  # apart: closed on both ends
    with pytest.raises(ValueError, match="not one of bins"):
        bin_hole_range((0.1, 0.25), PAPER_HOLE_BINS)


def test_a_mask_generated_for_a_bin_is_binned_into_it():
    for b in PAPER_HOLE_BINS:
        for seed in range(3):
            m = irregular_mask(20, 20, bin_hole_range(b, PAPER_HOLE_BINS), rng=seed)
            assert bin_of(hole_ratio(m), PAPER_HOLE_BINS) == b
    # A bin whose closed range holds 40 and 41 holes of 400, the lower edge shared: only 41 is its own.
    bins = [(0.0, 0.1), (0.1, 0.1025)]
    assert bin_hole_range(bins[1], bins) == (math.nextafter(0.1, 1), 0.1025)
    for seed in range(8):
        m = irregular_mask(20, 20, bin_hole_range(bins[1], bins), rng=seed)
        assert int((m == 0).sum()) == 41 and bin_of(hole_ratio(m), bins) == bins[1]


def test_bare_masks_on_bin_edges_are_binned_by_the_rule(astronaut):
    # 4 holes = 0.01 (was "other" before the rule was shared), 40 = 0.1 (lower bin), 41, 200 = 0.5, 244 > 0.6
    masks = [holes(20, c) for c in (4, 40, 41, 200, 244)]
    report = evaluate_inpainting(None, astronaut, masks, methods=["mean_fill"], progress=False)
    counts = {b: report.results["mean_fill"][b]["n"] for b in report.bins}
    assert counts == {"1-10%": 2, "10-20%": 1, "20-30%": 0, "30-40%": 0, "40-50%": 1, "50-60%": 0, "other": 1}


# --------------------------------------------------------------------------- several methods, composites kept


def test_compare_methods_keeps_the_composites_and_agrees_with_evaluate_inpainting(astronaut):
    from pconv.evaluation import compare_methods

    masks = [(square_mask(32, 8), (0.01, 0.1)), (square_mask(32, 12), (0.1, 0.2)), (square_mask(32, 13), (0.1, 0.2))]
    first, second = ModuleModel().train(), MeanFillModel()
    comparison = compare_methods(
        {"first": first, "second": second}, astronaut, masks, baselines=["mean_fill"], batch_size=2, progress=False
    )
    assert comparison.methods == ["first", "second", "mean_fill"] and first.training  # training flag restored
    assert comparison.image.shape == (3, 3, 32, 32) and comparison.mask.shape == (3, 1, 32, 32)
    assert comparison.bins == ["1-10%", "10-20%", "10-20%"]
    for name, comp in comparison.fills.items():
        known = comparison.mask.expand_as(comp) > 0.5
        assert torch.equal(comp[known], comparison.image[known]), name  # known pixels exactly
    # the table is evaluate_inpainting's, a row per model
    table = comparison.report()
    alone = evaluate_inpainting(
        ModuleModel(), astronaut, masks, methods=["model", "mean_fill"], batch_size=2, progress=False
    )
    for b in table.bins:
        for key in ("psnr", "ssim", "l1", "n"):
            for mine, theirs in (("first", "model"), ("mean_fill", "mean_fill")):
                a, c = table.results[mine][b][key], alone.results[theirs][b][key]
                assert (math.isnan(a) and math.isnan(c)) or a == pytest.approx(c, rel=1e-6), (mine, b, key)
    assert table.results["second"]["10-20%"]["psnr"] == pytest.approx(table.results["mean_fill"]["10-20%"]["psnr"])
    psnr_each = comparison.scores("psnr")["first"]
    assert psnr_each.shape == (3,) and psnr_each[1:].mean().item() == pytest.approx(
        table.results["first"]["10-20%"]["psnr"]
    )

    picked = comparison.select(comparison.rows(1))
    assert picked.bins == ["1-10%", "10-20%"] and picked.fills["first"].shape == (2, 3, 32, 32)
    assert torch.equal(picked.image[1], comparison.image[1])


def test_compare_methods_errors(astronaut):
    from pconv.evaluation import compare_methods

    mask = square_mask(32, 8)
    with pytest.raises(ValueError, match="names both a model and a baseline"):
        compare_methods({"harmonic": MeanFillModel()}, astronaut, [mask], progress=False)
    with pytest.raises(ValueError, match="nothing to compare"):
        compare_methods({}, astronaut, [mask], baselines=[], progress=False)
    with pytest.raises(ValueError, match="masks of one size"):
        compare_methods({}, astronaut, [mask, square_mask(16, 4)], baselines=["mean_fill"], progress=False)
    with pytest.raises(ValueError, match="unknown method 'magic'"):
        compare_methods({}, astronaut, [mask], baselines=["magic"], progress=False)
    with pytest.raises(ValueError, match="metric must be"):
        compare_methods({}, astronaut, [mask], baselines=["mean_fill"], progress=False).scores("fid")


def test_without_opencv_the_tables_hold_what_there_is(astronaut, monkeypatch):
    """00's last cell raised KeyError: 'telea' without OpenCV; the report itself must not care."""
    import sys

    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` raises ImportError
    report = evaluate_inpainting(MeanFillModel(), astronaut, [square_mask(32, 8)], progress=False)
    assert report.methods == ["model", "biharmonic", "harmonic", "mean_fill"]
    assert "telea" not in report.to_text() and "telea" not in report.to_html()
    with pytest.raises(ValueError, match="unknown method 'telea'"):
        evaluate_inpainting(MeanFillModel(), astronaut, [square_mask(32, 8)], methods=["telea"], progress=False)
