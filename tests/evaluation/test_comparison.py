"""Tests for pconv.evaluation.comparison: several methods on one test set, every composite kept.

`compare_methods` must give `evaluate_inpainting`'s table (a row per model), keep known
pixels exactly in every composite, restore training flags, and refuse what it cannot do.
"""

from __future__ import annotations

import math

import pytest
import torch
from eval_standins import MeanFillModel, ModuleModel, astronaut_crops, square_mask

from pconv.evaluation import compare_methods, evaluate_inpainting


@pytest.fixture(scope="module")
def astronaut() -> torch.Tensor:
    return astronaut_crops()


def test_compare_methods_keeps_the_composites_and_agrees_with_evaluate_inpainting(astronaut):
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
