"""Irregular hole masks: a fast free-form generator, NVIDIA-style mask folders, a binned test set.

Partial convolutions are trained and evaluated on irregular holes (Liu et al. 2018,
arXiv:1804.07723, Sec. 4.1): the test masks are grouped into six bins of hole ratio
(`PAPER_HOLE_BINS`), and the training masks are augmented by random dilation, rotation
and cropping (`MaskFolder`, defined in pconv/maskfolder.py). When the NVIDIA mask set is
not at hand, `irregular_mask` draws free-form brush strokes as in DeepFill v2 (Yu et al.
2019, arXiv:1806.03589) or LaMa's thin / medium / thick strokes and boxes (Suvorov et
al. 2022, arXiv:2109.07161); see `pconv.data.mask_drawing` for the stroke families.

Masks are float32, 1 = valid, 0 = hole; hole ratio = fraction of hole pixels.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from pconv.data import mask_drawing as maskdraw
from pconv.data.hole_bins import PAPER_HOLE_BINS, bin_hole_range
from pconv.data.image_io import ImageLoadError, check_index, item_rng, open_image
from pconv.data.mask_folder import MaskFolder
from pconv.data.mask_manifest import MaskSetError, existing_set, read_manifest
from pconv.data.publish import publish_folder
from pconv.utils import as_rng, check_hw, check_size, data_dir, user_path

__all__ = [
    "irregular_mask",
    "hole_ratio",
    "FAMILIES",
    "MaskGenerator",
    "MaskFolder",
    "make_test_masks",
    "load_test_masks",
    "fixed_test_masks",
    "MaskSetError",
]

TEST_MASKS_VERSION = 2  # 2: a shared bin edge belongs to the lower bin (pconv.data.hole_bins.bin_hole_range)
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


def _check_family(family: str) -> None:
    if family not in FAMILIES:
        raise ValueError(f"family={family!r} is unknown; use one of {', '.join(map(repr, FAMILIES))}")


def _count_bounds(h: int, w: int, lo: float, hi: float) -> tuple[int, int]:
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
    _check_family(family)
    rng = as_rng(rng)
    lo_n, hi_n = _count_bounds(h, w, lo, hi)
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
        _check_family(family)
        if length < 1 or seed < 0:
            raise ValueError(f"need length >= 1 and seed >= 0, got length={length}, seed={seed}")
        _count_bounds(*self.size, *self.hole_range)  # fail now, not in a worker, if unreachable
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


def _check_set_size(h: int, w: int) -> None:
    """Refuse, before anything is written, a size that misses a bin or that PIL could not read back."""

    def every_bin(hh: int, ww: int) -> bool:
        try:
            for b in PAPER_HOLE_BINS:
                _count_bounds(hh, ww, *bin_hole_range(b, PAPER_HOLE_BINS))
        except ValueError:
            return False
        return True

    if not every_bin(h, w):
        side = next(s for s in range(1, 64) if every_bin(s, s))
        raise ValueError(
            f"size={(h, w)} is too small for a test mask in every hole-ratio bin {PAPER_HOLE_BINS} "
            f"(ratios move in steps of 1/{h * w}); use a size of at least {side} (e.g. 64)"
        )
    if Image.MAX_IMAGE_PIXELS and h * w > Image.MAX_IMAGE_PIXELS:
        raise ValueError(
            f"size={(h, w)}: {h * w:,} pixels per mask is more than PIL.Image.MAX_IMAGE_PIXELS "
            f"({Image.MAX_IMAGE_PIXELS:,}), so the files could not be read back; use a smaller size (e.g. 512)"
        )


def make_test_masks(
    out_dir: str | os.PathLike,
    size: int | Sequence[int] = 256,
    per_bin: int = 100,
    seed: int = 0,
    *,
    family: str = "freeform",
    boxes: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write a fixed, reproducible binned test set: `per_bin` PNGs per `PAPER_HOLE_BINS` bin.

    Files are 8-bit PNGs, white = valid, in `out_dir/bin{b}_{lo}-{hi}/{i:04d}.png`;
    mask i of bin b is `irregular_mask(H, W, bin_hole_range(bin), np.random.default_rng([seed, b, i]))`:
    an edge two bins share belongs to the lower bin (`pconv.data.hole_bins.bin_hole_range`), so every
    mask is binned back into its own bin by its hole ratio alone.
    `manifest.json` records the size, seed, generator parameters and, per file, its bin,
    exact hole ratio and seed. The set is built in a private hidden folder next to `out_dir`
    and renamed into place (`pconv.data.publish`): processes building it at once never rewrite
    each other's files, and a reader never sees half a set.

    Args:
        out_dir: folder to write (`~` expanded, relative to the current folder); new or empty,
            or holding a set when `overwrite`.
        size: int or (H, W); at least 4 x 4, so that every bin can be hit.
        per_bin: masks per bin (the paper: 2000 at 512x512 with and without border holes).
        seed: non-negative int.
        family, boxes: passed to `irregular_mask`.
        overwrite: replace a set already in `out_dir` (the old one goes only once the new one is complete).

    Returns:
        The folder `out_dir`, absolute.

    Raises:
        FileExistsError: `out_dir` holds a set (or mask PNGs) and not `overwrite`, or other files.
        ValueError: a size too small for every bin or too large to read back, a bad `per_bin` or seed.
        pconv.utils.WriteFailedError: the disk is full or not writable (nothing is left behind).
    """
    h, w = check_hw(size)
    per_bin = check_size(per_bin, "per_bin")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    _check_family(family)
    _check_set_size(h, w)
    out_dir = user_path(out_dir)
    if existing_set(out_dir) and not overwrite:
        raise FileExistsError(
            f"{out_dir} already holds a test-mask set; pass overwrite=True (--force) to replace it, "
            "or write to another folder"
        )

    def build(folder: Path) -> None:
        entries = []
        for b, (lo, hi) in enumerate(PAPER_HOLE_BINS):
            sub = folder / f"bin{b}_{lo:.2f}-{hi:.2f}"
            sub.mkdir()
            hole_range = bin_hole_range((lo, hi), PAPER_HOLE_BINS)
            for i in range(per_bin):
                rng = np.random.default_rng([seed, b, i])
                m = irregular_mask(h, w, hole_range, rng, family=family, boxes=boxes)
                Image.fromarray((m * 255).astype(np.uint8), "L").save(sub / f"{i:04d}.png")
                file = f"{sub.name}/{i:04d}.png"
                entries.append({"file": file, "bin": [lo, hi], "hole_ratio": hole_ratio(m), "seed": [seed, b, i]})
        manifest = {
            "format": "pconv-test-masks",
            "version": TEST_MASKS_VERSION,
            "size": [h, w],
            "per_bin": per_bin,
            "seed": seed,
            "white": "valid",
            "bins": [list(b) for b in PAPER_HOLE_BINS],
            "generator": {"function": "pconv.data.masks.irregular_mask", "family": family, "boxes": boxes},
            "masks": entries,
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))

    if not publish_folder(out_dir, build, replace=overwrite, what="test-mask set"):
        raise FileExistsError(
            f"{out_dir} was filled by another process while this one built its test-mask set; "
            "pass overwrite=True (--force) to replace it, or write to another folder"
        )
    return out_dir


def fixed_test_masks(size: int | tuple[int, int] = 256, per_bin: int = 100, seed: int = 0) -> Path:
    """The shared binned test set for `size`, written once by `make_test_masks`.

    Every consumer (notebooks, CLI `evaluate`, benchmarks) finds the same set at
    `data_dir()/test_masks/<size>px_<per_bin>_seed<seed>/`, so methods are always
    compared on identical masks. A folder without a manifest, or with one written by an
    older version of the generator, is rebuilt; processes that build it at once each
    build privately and the first to finish publishes it (`make_test_masks`).

    Returns:
        The folder; read it with `load_test_masks`.

    Raises:
        MaskSetError: the folder's manifest is garbage (names it and how to rebuild).
    """
    h, w = check_hw(size)
    name = f"{h}px" if h == w else f"{h}x{w}px"
    folder = user_path(data_dir() / "test_masks" / f"{name}_{per_bin}_seed{seed}")
    manifest = folder / "manifest.json"
    if not manifest.is_file() or read_manifest(manifest).get("version") != TEST_MASKS_VERSION:
        try:
            make_test_masks(folder, size=(h, w), per_bin=per_bin, seed=seed, overwrite=True)
        except FileExistsError:
            if not manifest.is_file():  # what filled it was not another builder of this set
                raise
    return folder


def load_test_masks(path: str | os.PathLike) -> list[tuple[torch.Tensor, tuple[float, float]]]:
    """Read a test set written by `make_test_masks` and check every file against its manifest.

    Args:
        path: the test-set folder or its manifest.json.

    Returns:
        List of (mask (1, H, W) float32 tensor with 1 = valid, bin (lo, hi)).

    Raises:
        FileNotFoundError: no manifest, or a listed file is missing.
        MaskSetError: a garbage manifest, or a listed file is unreadable or differs from it.
    """
    path = user_path(path)
    manifest_path = path / "manifest.json" if path.is_dir() else path
    if not manifest_path.is_file():
        raise FileNotFoundError(
            f"no test-mask manifest at {manifest_path}; build the set with "
            f"pconv.data.masks.make_test_masks({str(manifest_path.parent)!r})"
        )
    manifest = read_manifest(manifest_path)
    h, w = manifest["size"]
    rebuild = "rebuild the set with `python -m pconv masks --out DIR --force` (or delete the folder)"
    out = []
    for e in manifest["masks"]:
        f = manifest_path.parent / e["file"]
        if not f.is_file():
            raise FileNotFoundError(f"test mask {f} listed in {manifest_path} is missing; {rebuild}")
        try:
            with open_image(f) as im:
                m = torch.from_numpy(np.asarray(im.convert("L")) > 127).float()[None]  # (1, H, W)
        except ImageLoadError as err:
            raise MaskSetError(f"test mask {f} listed in {manifest_path}: {err.reason}; {rebuild}") from None
        if tuple(m.shape[1:]) != (h, w):
            raise MaskSetError(f"test mask {f} is {tuple(m.shape[1:])}, the manifest says {(h, w)}; {rebuild}")
        r = hole_ratio(m)
        if abs(r - e["hole_ratio"]) > 0.5 / (h * w):
            raise MaskSetError(
                f"test mask {f} has hole ratio {r:.6f}, the manifest says {e['hole_ratio']:.6f}: "
                f"the file was changed or belongs to another set; {rebuild}"
            )
        out.append((m, tuple(e["bin"])))
    return out
