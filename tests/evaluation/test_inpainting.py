"""Tests for pconv.evaluation.inpainting and the bins of pconv.evaluation.report: the paper's Table 1 evaluation.

`evaluate_inpainting` against hand-built masks and stand-in models, the report's tables, and
the hole-bin rule checked at every achievable ratio of a small mask against the paper's
intervals [0.01, 0.1], (0.1, 0.2], ..., (0.5, 0.6].
"""

from __future__ import annotations

import math

import pytest
import torch
from eval_standins import MeanFillModel, ModuleModel, TensorDataset, astronaut_crops, square_mask

from pconv.data import PAPER_HOLE_BINS
from pconv.evaluation.inpainting import evaluate_inpainting
from pconv.evaluation.report import InpaintingReport


@pytest.fixture(scope="module")
def astronaut() -> torch.Tensor:
    return astronaut_crops()


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


def test_evaluate_inpainting_mask_folder_dataset_and_module(monkeypatch, tmp_path, astronaut):
    import pconv.evaluation.eval_pairs

    seen = []

    def fake_load(path):
        seen.append(path)
        return [(square_mask(32, 20), (0.3, 0.4)), (square_mask(32, 24), (0.5, 0.6))]

    monkeypatch.setattr(pconv.evaluation.eval_pairs, "load_test_masks", fake_load)
    model = ModuleModel().train()
    report = evaluate_inpainting(model, TensorDataset(astronaut), tmp_path, methods=["model"], progress=False)
    assert seen == [tmp_path]
    assert model.modes == [False] and model.training  # eval inside, training flag restored
    assert [report.results["model"][b]["n"] for b in report.bins] == [0, 0, 0, 1, 0, 1]
    assert report.best("psnr", "30-40%") == "model"


# --------------------------------------------------------------------------- the hole-bin rule


def holes(size: int, count: int) -> torch.Tensor:
    """A (1, size, size) mask with exactly `count` hole pixels, row-major from the top left."""
    m = torch.ones(size * size)
    m[:count] = 0
    return m.view(1, size, size)


def test_bare_masks_on_bin_edges_are_binned_by_the_rule(astronaut):
    # 4 holes = 0.01 (was "other" before the rule was shared), 40 = 0.1 (lower bin), 41, 200 = 0.5, 244 > 0.6
    masks = [holes(20, c) for c in (4, 40, 41, 200, 244)]
    report = evaluate_inpainting(None, astronaut, masks, methods=["mean_fill"], progress=False)
    counts = {b: report.results["mean_fill"][b]["n"] for b in report.bins}
    assert counts == {"1-10%": 2, "10-20%": 1, "20-30%": 0, "30-40%": 0, "40-50%": 1, "50-60%": 0, "other": 1}


def test_without_opencv_the_tables_hold_what_there_is(astronaut, monkeypatch):
    """00's last cell raised KeyError: 'telea' without OpenCV; the report itself must not care."""
    import sys

    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` raises ImportError
    monkeypatch.setitem(sys.modules, "patchmatch", None)  # and `import patchmatch`: no PatchMatch either
    report = evaluate_inpainting(MeanFillModel(), astronaut, [square_mask(32, 8)], progress=False)
    assert report.methods == ["model", "biharmonic", "harmonic", "mean_fill"]
    assert "telea" not in report.to_text() and "telea" not in report.to_html()
    with pytest.raises(ValueError, match="unknown method 'telea'"):
        evaluate_inpainting(MeanFillModel(), astronaut, [square_mask(32, 8)], methods=["telea"], progress=False)
