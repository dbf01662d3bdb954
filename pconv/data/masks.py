"""Irregular hole masks drawn on the fly: `irregular_mask`, `hole_ratio` and the `MaskGenerator` dataset.

Partial convolutions are trained and evaluated on irregular holes (Liu et al. 2018,
arXiv:1804.07723, Sec. 4.1). When the NVIDIA mask set is not at hand (read it with
`MaskFolder`, pconv/data/mask_folder.py), `irregular_mask` draws free-form brush strokes
as in DeepFill v2 (Yu et al. 2019, arXiv:1806.03589) or LaMa's thin / medium / thick
strokes and boxes (Suvorov et al. 2022, arXiv:2109.07161); pconv/data/mask_drawing.py
draws the strokes. The paper's binned test set is built from these masks in
pconv/data/mask_sets.py.

Masks are float32, 1 = valid, 0 = hole; hole ratio = fraction of hole pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from pconv.data import mask_drawing as maskdraw
from pconv.data.dataset_items import check_index, item_rng
from pconv.utils import as_rng, check_hw

__all__ = ["FAMILIES", "MaskGenerator", "count_bounds", "check_family", "hole_ratio", "irregular_mask"]

FAMILIES = (*maskdraw.FAMILIES, "mixed")  # "mixed": one of the four families, drawn per mask
_MAX_ELEMENTS = 400  # strokes tried before the exact fallback takes over


def _check_range(hole_range: Sequence[float], name: str = "hole_range") -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in hole_range)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (lo, hi) of hole ratios, got {hole_range!r}") from None
    if not (0.0 <= lo <= hi <= 1.0):  # also rejects NaN
        raise ValueError(
            f"{name}={hole_range!r} is impossible: need 0 <= lo <= hi <= 1 (fractions of hole "
            "pixels, e.g. (0.1, 0.2)); swap or clip the bounds"
        )
    return lo, hi


def check_family(family: str) -> None:
    """Raise ValueError, naming the choices, unless `family` is one of `FAMILIES`."""
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} is unknown; use one of {', '.join(map(repr, FAMILIES))}")


def count_bounds(h: int, w: int, lo: float, hi: float) -> tuple[int, int]:
    """Smallest and largest hole counts c with lo <= c / n <= hi (exact in float64, as `hole_ratio`)."""
    n = h * w
    lo_n, hi_n = max(math.ceil(lo * n) - 1, 0), min(math.floor(hi * n) + 1, n)
    while lo_n / n < lo:
        lo_n += 1
    while hi_n / n > hi:
        hi_n -= 1
    if lo_n > hi_n:
        raise ValueError(
            f"hole_range=({lo}, {hi}) contains no achievable ratio for a {h}x{w} mask "
            f"(ratios move in steps of 1/{n}); widen the range or enlarge the mask"
        )
    return lo_n, hi_n


def irregular_mask(
    height: int,
    width: int,
    hole_range: Sequence[float] = (0.01, 0.6),
    rng: None | int | np.random.Generator = None,
    *,
    family: str = "freeform",
    boxes: bool = False,
) -> np.ndarray:
    """Draw a random free-form mask whose hole ratio lies inside `hole_range`.

    A target hole count is drawn uniformly in the range; strokes are added until it is
    reached. A stroke that would overshoot the range is replayed segment by segment
    and shrunk, and if `_MAX_ELEMENTS` strokes were not enough the holes are grown
    pixel-exactly from their rim, so the result is always inside the range.

    Args:
        height, width: mask size in pixels; stroke sizes scale with sqrt(H * W) / 256.
        hole_range: (lo, hi) with 0 <= lo <= hi <= 1, inclusive; e.g. a `PAPER_HOLE_BINS` entry.
        rng: None (fresh randomness), an int seed or a `numpy.random.Generator` (advanced).
        family: "freeform" (DeepFill v2), "thin", "medium", "thick" (LaMa) or "mixed".
        boxes: also draw LaMa-style rectangles among the strokes.

    Returns:
        np.float32 array (H, W) of {0, 1}: 1 = valid, 0 = hole.

    Raises:
        ValueError: impossible `hole_range` (outside [0, 1], lo > hi, or no pixel count
            of an H x W mask falls inside it), bad size or unknown family.
    """
    h, w = check_hw((height, width), "(height, width)")
    lo, hi = _check_range(hole_range)
    check_family(family)
    rng = as_rng(rng)
    lo_n, hi_n = count_bounds(h, w, lo, hi)
    if family == "mixed":
        family = list(maskdraw.FAMILIES)[int(rng.integers(len(maskdraw.FAMILIES)))]
    target = int(rng.integers(lo_n, hi_n + 1))  # uniform over the range, not piled up at lo

    hole = maskdraw.strokes(h, w, target, hi_n, rng, family, boxes, _MAX_ELEMENTS)  # (H, W) bool
    c = int(np.count_nonzero(hole))
    if c < lo_n:  # strokes ran out: grow the rim exactly to the target
        hole = maskdraw.grow_holes(hole, target - c, rng)
    return (~hole).astype(np.float32)


def hole_ratio(mask: np.ndarray | torch.Tensor) -> float | torch.Tensor:
    """Fraction of hole pixels, mean(1 - mask), in float64 so that bin edges are exact.

    Args:
        mask: (H, W) or (1, H, W) array/tensor, or a batch (N, C, H, W); 1 = valid, 0 = hole.

    Returns:
        A float in [0, 1] for a single mask; a float64 tensor (N,) for a batch.
    """
    t = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
    if t.ndim == 2 or (t.ndim == 3 and t.shape[0] == 1):
        return float((1.0 - t.double()).mean())  # hole count / pixels: exact at bin edges
    if t.ndim == 4:
        return (1.0 - t.flatten(1).double()).mean(1)  # (N,)
    raise ValueError(f"mask must be (H, W), (1, H, W) or a batch (N, 1, H, W); got shape {tuple(t.shape)}")


class MaskGenerator(Dataset):
    """Dataset of free-form masks from `irregular_mask`, (1, H, W) float32 tensors.

    Mask `i` is drawn from a generator seeded by (seed, epoch, i): the same index always
    gives the same mask, and DataLoader workers (which get different indices) can never
    share a stream. Call `set_epoch(e)` before an epoch for fresh masks (as with
    `DistributedSampler`; with `persistent_workers=True` workers keep the old epoch).

    Args:
        size: int or (H, W).
        hole_range: (lo, hi) hole ratio of every mask.
        length: number of masks in one epoch.
        seed: non-negative int.
        family, boxes: passed to `irregular_mask`.
    """

    def __init__(
        self,
        size: int | Sequence[int],
        hole_range: Sequence[float] = (0.01, 0.6),
        length: int = 10_000,
        seed: int = 0,
        *,
        family: str = "freeform",
        boxes: bool = False,
    ):
        self.size = check_hw(size)
        self.hole_range = _check_range(hole_range)
        check_family(family)
        if length < 1 or seed < 0:
            raise ValueError(f"need length >= 1 and seed >= 0, got length={length}, seed={seed}")
        count_bounds(*self.size, *self.hole_range)  # fail now, not in a worker, if unreachable
        self.length, self.seed, self.family, self.boxes, self.epoch = int(length), int(seed), family, boxes, 0

    def set_epoch(self, epoch: int) -> None:
        """Switch to the masks of `epoch` (a non-negative int; 0 is the default)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = item_rng(self.seed, self.epoch, check_index(index, self.length))
        m = irregular_mask(*self.size, self.hole_range, rng, family=self.family, boxes=self.boxes)
        return torch.from_numpy(m)[None]  # (1, H, W)
