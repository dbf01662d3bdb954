"""Tests for pconv.evaluation.fills: filling test pairs with every method and scoring the composites.

The composite keeps every known pixel exactly (Liu et al. 2018, Sec. 3.3); scores are the
metrics of pconv.evaluation.metrics per pair; the per-bin table is a plain mean per bin,
NaN where a bin holds nothing; models run in eval mode and get their flags back.
"""

from __future__ import annotations

import math
import sys

import pytest
import torch
from eval_standins import ModuleModel, square_mask

from pconv.evaluation import l1_error, mean_fill, psnr, ssim
from pconv.evaluation.fills import (
    check_baselines,
    fill_pairs,
    model_fill,
    models_on,
    per_bin_report,
    score_composites,
)


def test_check_baselines_names_what_is_available_and_refuses_clashes(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` raises ImportError: no OpenCV fills
    monkeypatch.setitem(sys.modules, "patchmatch", None)  # nor PyPatchMatch: no PatchMatch fill
    assert list(check_baselines(None, [])) == ["biharmonic", "harmonic", "mean_fill"]
    assert check_baselines(["mean_fill"], ["model"]) == {"mean_fill": mean_fill}
    with pytest.raises(ValueError, match=r"unknown method 'telea'; available here: \['model', 'biharmonic'"):
        check_baselines(["telea"], ["model"])
    with pytest.raises(ValueError, match="'harmonic' names both a model and a baseline"):
        check_baselines(["harmonic"], ["harmonic"])


def test_models_run_in_eval_mode_and_get_their_flags_back():
    trained, frozen = ModuleModel().train(), ModuleModel().eval()
    with models_on([trained, frozen, mean_fill], torch.device("cpu")):
        assert not trained.training and not frozen.training
    assert trained.training and not frozen.training


def test_model_fill_gives_float32_in_range_without_grad():
    class Loud(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = torch.nn.Parameter(torch.tensor(3.0, dtype=torch.float64))

        def inpaint(self, image, mask):
            return image.double() * self.gain - 1  # outside [0, 1], float64, with grad

    out = model_fill(Loud(), torch.device("cpu"))(torch.full((1, 3, 4, 4), 0.5), torch.ones(1, 1, 4, 4))
    assert out.dtype == torch.float32 and not out.requires_grad
    assert torch.equal(out, torch.full((1, 3, 4, 4), 0.5))  # 0.5 * 3 - 1, within [0, 1]
    out = model_fill(Loud(), torch.device("cpu"))(torch.ones(1, 3, 4, 4), torch.ones(1, 1, 4, 4))
    assert out.max() == 1  # clamped


def test_fill_pairs_composites_keep_every_known_pixel():
    images = torch.rand(2, 3, 16, 24)  # resized to the masks' 8x8
    pairs = [(0, square_mask(8, 3), "a"), (1, square_mask(8, 5), "b"), (0, square_mask(8, 2), "a")]

    def nan_fill(image, mask):
        return torch.full_like(image, math.nan)  # a NaN under a hole must not reach a known pixel

    batches = list(fill_pairs(pairs, images, {"nan": nan_fill, "mean_fill": mean_fill}, 2, progress=False))
    assert [len(run) for run, _, _ in batches] == [2, 1]
    for run, comps, image in batches:
        mask = torch.stack([m for _, m, _ in run]).expand_as(image) > 0.5
        assert image.shape == (len(run), 3, 8, 8) and list(comps) == ["nan", "mean_fill"]
        for comp in comps.values():
            assert torch.equal(comp[mask], image[mask])
        assert comps["nan"][~mask].isnan().all()
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        next(fill_pairs(pairs, images, {"mean_fill": mean_fill}, 0, progress=False))


def test_scores_are_the_metrics_per_pair():
    comp, image = torch.rand(3, 3, 16, 16), torch.rand(3, 3, 16, 16)
    got = score_composites(comp, image)
    assert list(got) == ["psnr", "ssim", "l1"]
    for key, metric in (("psnr", psnr), ("ssim", ssim), ("l1", l1_error)):
        assert got[key].shape == (3,) and torch.equal(got[key], metric(comp, image))
    assert list(score_composites(comp, image, ["l1"])) == ["l1"]


def test_per_bin_report_averages_each_bin_and_marks_empty_ones_nan():
    values = {
        "m": {"psnr": [10.0, 20.0, 30.0], "l1": [0.1, 0.2, 0.4]},
        "n2": {"psnr": [1.0, 2.0, 3.0], "l1": [0, 0, 0]},
    }
    report = per_bin_report(values, ["a", "b", "a"], ["a", "b", "c"])
    assert report.methods == ["m", "n2"] and report.bins == ["a", "b", "c"]
    assert report.results["m"]["a"] == {"psnr": 20.0, "l1": pytest.approx(0.25), "n": 2}
    assert report.results["m"]["b"] == {"psnr": 20.0, "l1": 0.2, "n": 1}
    cell = report.results["n2"]["c"]
    assert cell["n"] == 0 and math.isnan(cell["psnr"]) and math.isnan(cell["l1"])
