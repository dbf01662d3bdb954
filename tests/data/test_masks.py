"""Tests for pconv.data.masks: hole-ratio guarantees, determinism, stroke scaling,
the MaskGenerator dataset and its workers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pconv.data import (
    PAPER_HOLE_BINS,
    MaskGenerator,
    hole_ratio,
    irregular_mask,
    masks,
)
from pconv.data.loaders import WORKER_START  # how the trainer starts its workers: never fork

FAMILIES = ("freeform", "thin", "medium", "thick")


def _ratio(m: np.ndarray) -> float:
    return float(np.count_nonzero(m == 0)) / m.size  # the definition, written plainly


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("bin_", PAPER_HOLE_BINS)
def test_ratio_inside_every_paper_bin(bin_, family):
    for seed in range(12):
        m = irregular_mask(64, 64, bin_, seed, family=family, boxes=family != "thin")
        assert m.dtype == np.float32 and m.shape == (64, 64)
        assert set(np.unique(m)) <= {0.0, 1.0}
        assert bin_[0] <= _ratio(m) <= bin_[1] and hole_ratio(m) == _ratio(m)


@pytest.mark.parametrize("hw", [(48, 112), (130, 40), (7, 9), (1, 50)])
def test_ratio_inside_range_for_odd_and_non_square_sizes(hw):
    for seed, bin_ in enumerate(PAPER_HOLE_BINS * 3):
        m = irregular_mask(*hw, bin_, seed, family="mixed")
        assert m.shape == hw and bin_[0] <= _ratio(m) <= bin_[1]


def test_default_size_ratio_and_spread_over_the_range():
    ratios = [hole_ratio(irregular_mask(256, 256, rng=s)) for s in range(40)]
    assert all(0.01 <= r <= 0.6 for r in ratios)
    assert np.std(ratios) > 0.1  # the target is uniform over the range, not piled up at lo


def test_narrow_and_degenerate_ranges():
    for seed in range(5):
        assert _ratio(irregular_mask(50, 50, (0.3, 0.3), seed)) == 0.3  # 750 pixels exactly
        assert _ratio(irregular_mask(32, 32, (0.0, 0.0), seed)) == 0.0
        assert _ratio(irregular_mask(16, 16, (1.0, 1.0), seed)) == 1.0
        r = _ratio(irregular_mask(64, 64, (0.41, 0.415), seed, family="thick", boxes=True))
        assert 0.41 <= r <= 0.415


def test_exact_fallback_when_strokes_run_out(monkeypatch):
    monkeypatch.setattr(masks, "_MAX_ELEMENTS", 0)  # no strokes at all: only the rim growth
    for seed, bin_ in enumerate(PAPER_HOLE_BINS):
        assert bin_[0] <= _ratio(irregular_mask(40, 30, bin_, seed)) <= bin_[1]
    monkeypatch.setattr(masks, "_MAX_ELEMENTS", 2)
    assert 0.5 <= _ratio(irregular_mask(64, 64, (0.5, 0.6), 0, family="thin")) <= 0.6


def test_determinism_and_rng_kinds():
    a = irregular_mask(96, 80, (0.1, 0.4), 7, family="medium", boxes=True)
    assert np.array_equal(a, irregular_mask(96, 80, (0.1, 0.4), 7, family="medium", boxes=True))
    assert np.array_equal(irregular_mask(64, 64, rng=np.random.default_rng(3)), irregular_mask(64, 64, rng=3))
    gen = np.random.default_rng(5)
    assert not np.array_equal(irregular_mask(64, 64, rng=gen), irregular_mask(64, 64, rng=gen))  # stream advances
    assert irregular_mask(32, 32).shape == (32, 32)  # rng=None: fresh randomness


def test_different_seeds_differ():
    ms = [irregular_mask(64, 64, (0.2, 0.3), s) for s in range(10)]
    assert len({m.tobytes() for m in ms}) == 10


@pytest.mark.parametrize("bad", [(0.5, 0.2), (-0.1, 0.2), (0.2, 1.5), (float("nan"), 0.5), (0.1,), "ab", None])
def test_impossible_range_raises(bad):
    with pytest.raises(ValueError, match="hole_range"):
        irregular_mask(32, 32, bad)


def test_unreachable_range_on_a_tiny_mask_raises_instead_of_looping():
    with pytest.raises(ValueError, match=r"no achievable ratio for a 4x4 mask"):
        irregular_mask(4, 4, (0.3, 0.31))  # 16 pixels: 4/16 = 0.25, 5/16 = 0.3125
    with pytest.raises(ValueError, match="family"):
        irregular_mask(32, 32, family="dotted")
    with pytest.raises(ValueError, match="height, width"):
        irregular_mask(0, 32)


def _mean_half_width(size: int, seeds: range) -> float:
    """Area / boundary length of the holes: half the stroke width for long strokes."""
    area = boundary = 0
    for s in seeds:
        hole = irregular_mask(size, size, (0.05, 0.15), s, family="medium") == 0
        edge = hole & ~(np.roll(hole, 1, 0) & np.roll(hole, -1, 0) & np.roll(hole, 1, 1) & np.roll(hole, -1, 1))
        area, boundary = area + hole.sum(), boundary + edge.sum()
    return area / boundary


def test_stroke_width_scales_with_image_size():
    ratio = _mean_half_width(512, range(6)) / _mean_half_width(256, range(6))
    assert 1.6 < ratio < 2.4


def test_hole_ratio_shapes():
    m = np.ones((4, 5), np.float32)
    m[0, :2] = 0
    assert hole_ratio(m) == pytest.approx(0.1) and isinstance(hole_ratio(m), float)
    assert hole_ratio(torch.from_numpy(m)[None]) == pytest.approx(0.1)
    batch = torch.stack([torch.from_numpy(m)[None], torch.zeros(1, 4, 5)])  # (2, 1, 4, 5)
    r = hole_ratio(batch)
    assert r.shape == (2,) and torch.allclose(r, torch.tensor([0.1, 1.0], dtype=r.dtype))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        hole_ratio(np.ones((3, 4, 5)))


def test_mask_generator_dataset():
    ds = MaskGenerator((48, 64), (0.1, 0.3), length=5, seed=1, family="thin")
    m = ds[2]
    assert len(ds) == 5 and m.shape == (1, 48, 64) and m.dtype == torch.float32
    assert torch.equal(m, ds[2]) and torch.equal(ds[-1], ds[4]) and 0.1 <= hole_ratio(m) <= 0.3
    assert not torch.equal(m, MaskGenerator((48, 64), (0.1, 0.3), length=5, seed=2, family="thin")[2])
    ds.set_epoch(1)
    assert not torch.equal(m, ds[2])
    with pytest.raises(IndexError):
        ds[5]
    with pytest.raises(ValueError, match="hole_range"):
        MaskGenerator(32, (0.6, 0.1))
    with pytest.raises(ValueError, match="size"):
        MaskGenerator(-3)
    with pytest.raises(ValueError, match="4x4"):
        MaskGenerator(4, (0.3, 0.31))  # caught at construction, not inside a worker
    with pytest.raises(ValueError, match="epoch"):
        ds.set_epoch(-1)


def test_distinct_masks_across_dataloader_workers():
    ds = MaskGenerator(32, length=8, seed=0)
    loader = DataLoader(
        ds, batch_size=2, num_workers=2, multiprocessing_context=WORKER_START
    )  # worker 0: 0, 2; 1: 1, 3
    batches = list(loader)
    got = torch.cat(batches)  # (8, 1, 32, 32)
    assert len({m.numpy().tobytes() for m in got}) == 8  # no two workers repeat a stream
    assert torch.equal(got, torch.stack([ds[i] for i in range(8)]))  # and each index is reproducible
