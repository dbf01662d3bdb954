"""Tests for pconv.data.hole_bins: the paper's six bins (Liu et al. 2018, Sec. 4.1, Table 1), the rule that
puts a shared edge in the lower bin, generator ranges that bin back into their bin, and the labels."""

from __future__ import annotations

import math

import pytest
import torch

from pconv.data import PAPER_HOLE_BINS, bin_label, bin_of, hole_ratio, irregular_mask
from pconv.data.hole_bins import bin_hole_range


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


def test_paper_bins_and_their_labels():
    assert PAPER_HOLE_BINS[0] == (0.01, 0.1) and PAPER_HOLE_BINS[-1] == (0.5, 0.6) and len(PAPER_HOLE_BINS) == 6
    assert all(hi == next_lo for (_, hi), (next_lo, _) in zip(PAPER_HOLE_BINS, PAPER_HOLE_BINS[1:]))  # contiguous
    assert [bin_label(b) for b in PAPER_HOLE_BINS] == ["1-10%", "10-20%", "20-30%", "30-40%", "40-50%", "50-60%"]
    assert bin_label((0.125, 0.3333)) == "12.5-33.33%"  # two decimals of a percent at most
