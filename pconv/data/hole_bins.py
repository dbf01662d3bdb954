"""Hole-ratio bins: the paper's six, which bin a ratio falls in, which ratios make a bin.

Liu et al. 2018 (arXiv:1804.07723, Sec. 4.1 and Table 1) group test masks by hole ratio
into (0.01, 0.1], (0.1, 0.2], ..., (0.5, 0.6]. The test-mask set (`pconv.data.mask_sets`) draws
masks for a bin and the evaluation (`pconv.evaluation`) sorts masks into bins by the same
rule, defined once here: `bin_of` says which bin a hole ratio falls in, `bin_hole_range`
which ratios a generator must draw for a bin.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["PAPER_HOLE_BINS", "bin_hole_range", "bin_label", "bin_of"]

PAPER_HOLE_BINS = ((0.01, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6))  # paper Table 1


def bin_label(hole_bin: tuple[float, float]) -> str:
    """A hole-ratio bin (lo, hi) as a column label, e.g. (0.1, 0.2) -> "10-20%"."""
    lo, hi = hole_bin
    return f"{round(lo * 100, 2):g}-{round(hi * 100, 2):g}%"


def bin_hole_range(hole_bin: tuple[float, float], bins: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """The closed range of hole ratios that belong to `hole_bin` among `bins`.

    The rule: a bin (lo, hi) holds lo <= ratio <= hi, except that an edge two bins share
    belongs to the lower bin. For the contiguous `PAPER_HOLE_BINS` that is the paper's
    [0.01, 0.1], (0.1, 0.2], ..., (0.5, 0.6]. Hole ratios are float64 (`hole_ratio`), so
    "above lo" is exactly "at least the next float after lo", and a generator given this
    range (`irregular_mask(h, w, bin_hole_range(b, bins))`) only draws masks that `bin_of`
    puts back into b.

    Args:
        hole_bin: (lo, hi), one of `bins`.
        bins: all bins, e.g. `PAPER_HOLE_BINS`.

    Returns:
        (lo', hi) with lo' = lo, or the float just above lo when another bin ends at lo.
    """
    lo, hi = hole_bin
    if (lo, hi) not in [tuple(b) for b in bins]:
        raise ValueError(f"hole_bin {hole_bin!r} is not one of bins {list(bins)!r}")
    shared = any(other_hi == lo and (other_lo, other_hi) != (lo, hi) for other_lo, other_hi in bins)
    return (math.nextafter(lo, math.inf) if shared else lo), hi


def bin_of(ratio: float, bins: Sequence[tuple[float, float]]) -> tuple[float, float] | None:
    """The bin of `bins` that a hole ratio falls in (rule: `bin_hole_range`), or None.

    Args:
        ratio: hole ratio in [0, 1], as `pconv.data.masks.hole_ratio` gives it.
        bins: (lo, hi) pairs, e.g. `PAPER_HOLE_BINS`.

    Returns:
        The (lo, hi) pair holding `ratio`; None when no bin does.
    """
    for hole_bin in bins:
        lo, hi = bin_hole_range(hole_bin, bins)
        if lo <= ratio <= hi:
            return tuple(hole_bin)
    return None
