"""The binned test-mask set: written once, reproducibly, and read back checked against its manifest.

Liu et al. 2018 (arXiv:1804.07723, Sec. 4.1 and Table 1) evaluate on irregular masks
grouped by hole ratio into six bins (`PAPER_HOLE_BINS`, pconv/data/hole_bins.py).
`make_test_masks` writes such a set with the free-form generator of pconv/data/masks.py,
`fixed_test_masks` keeps one shared set per size so that every method (notebooks, the
CLI's `evaluate`, benchmarks) is compared on identical masks, and `load_test_masks` reads
a set back, checking every file against the manifest (pconv/data/mask_manifest.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pconv.data.hole_bins import PAPER_HOLE_BINS, bin_hole_range
from pconv.data.image_io import ImageLoadError, open_checked
from pconv.data.mask_manifest import MaskSetError, existing_set, read_manifest
from pconv.data.masks import check_family, count_bounds, hole_ratio, irregular_mask
from pconv.data.publish import publish_folder
from pconv.utils import check_hw, check_size, data_dir, user_path

__all__ = ["TEST_MASKS_VERSION", "fixed_test_masks", "load_test_masks", "make_test_masks"]

TEST_MASKS_VERSION = 2  # 2: a shared bin edge belongs to the lower bin (pconv.data.hole_bins.bin_hole_range)


def _check_set_size(h: int, w: int) -> None:
    """Refuse, before anything is written, a size that misses a bin or that PIL could not read back."""

    def every_bin(hh: int, ww: int) -> bool:
        try:
            for b in PAPER_HOLE_BINS:
                count_bounds(hh, ww, *bin_hole_range(b, PAPER_HOLE_BINS))
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
    check_family(family)
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
        # Replace only what was there before this call (an old version, leftovers): a set another
        # process publishes meanwhile is kept, never swapped out under a reader of it.
        stale = folder.is_dir() and any(folder.iterdir())
        try:
            make_test_masks(folder, size=(h, w), per_bin=per_bin, seed=seed, overwrite=stale)
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
            f"pconv.data.make_test_masks({str(manifest_path.parent)!r})"
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
            with open_checked(f) as im:
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
