"""PatchMatch inpainting (Barnes et al. 2009), the classical "PM" of Table 1 of Liu et al. 2018 (arXiv:1804.07723).

Barnes, Shechtman, Finkelstein and Goldman, "PatchMatch: A Randomized Correspondence Algorithm
for Structural Image Editing" (SIGGRAPH 2009): for every patch touching the hole, a similar patch
of the known region is found by random search and propagation between neighbours, and the hole
is filled with the matched patches' pixels, coarse to fine, each pixel the vote of the patches
that cover it (the completion of Wexler et al. 2007, which Barnes et al. speed up). Unlike the
smooth fills in baselines.py it copies texture: on a periodic pattern it continues the pattern.

The fill is PyPatchMatch's (PyPI `pypatchmatch`, MIT licence, import name `patchmatch`; a C++
library with OpenCV core linked in, no download at run time), on the 8-bit image as OpenCV's
fills. Its search is random: `seed` seeds it, the same seed for every image, so a fill is
reproducible and an image is filled alike alone or in a batch. The library keeps the seed in
process-wide state; a lock makes seeding and filling one step for the threads of this process.

Where it finds too few known patches to copy, PyPatchMatch fills with black or darkened pixels:
an image a few pixels thin, a hole that cuts an elongated image across (half of a 32x256
image, say), and a few pixels at the border of small images (measured with the paper's irregular
masks, all six hole bins: about 1 hole pixel in 2,600 at 32x32 to 128x128, 1 in 250,000 at
256x256). The values under the holes never matter.
"""

from __future__ import annotations

import operator
import threading
from types import ModuleType

import numpy as np
import torch

from pconv.evaluation.fill_contract import Filler, apply_filler, fill_doc

__all__ = ["PATCH_RADIUS", "import_patchmatch", "patchmatch"]

# Patches of 2 * 3 + 1 = 7 pixels a side, as PyPatchMatch's examples use; its default radius 15
# (31x31 patches) follows larger structures but is many times slower.
PATCH_RADIUS = 3
_SEED_MAX = 2**32  # the library keeps the seed as a 32-bit unsigned int
_SEED_LOCK = threading.Lock()


def import_patchmatch() -> ModuleType:
    """Import PyPatchMatch lazily, or raise an ImportError that says how to install it."""
    try:
        import patchmatch as pm
    except ImportError as err:
        raise ImportError(
            "The PatchMatch baseline needs PyPatchMatch, which is not importable here. "
            "It is a dependency of pconv: `pip install pypatchmatch` (or reinstall pconv)."
        ) from err
    if not pm.patchmatch_available:
        raise ImportError(
            "PyPatchMatch is installed without its native library (no wheel for this platform, and its build "
            "from source failed): install a C++ compiler, CMake and OpenCV's development files, then "
            "`pip install --force-reinstall --no-deps --no-cache-dir pypatchmatch`."
        )
    return pm


def _patchmatch_filler(pm: ModuleType, patch_size: int, seed: int) -> Filler:
    def fill(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
        src = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)  # (H, W, 3), channel order is irrelevant
        with _SEED_LOCK:
            pm.set_random_seed(seed)
            out = pm.inpaint(src, hole.astype(np.uint8), patch_size=patch_size)  # (H, W, 3) uint8
        return out.astype(np.float64) / 255.0

    return fill


def _check_int(name: str, value: object, low: int, high: int | None, hint: str) -> int:
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})") from None
    if number < low or (high is not None and number >= high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high})"
        raise ValueError(f"{name} must be {bounds}, got {number}; {hint}")
    return number


@fill_doc
def patchmatch(
    image: torch.Tensor, mask: torch.Tensor, *, patch_size: int = PATCH_RADIUS, seed: int = 0
) -> torch.Tensor:
    """PatchMatch inpainting (Barnes et al. 2009) with PyPatchMatch, on the 8-bit image.

    `patch_size` is the patch radius: patches span 2 * patch_size + 1 pixels a side (default 3:
    7x7). `seed` seeds the random search, in [0, 2**32); the same seed gives the same fill. About
    1.5 CPU-seconds for a 256x256 image with a quarter of it missing, 4 at 512x512, on one core:
    30-45 times the harmonic fill (benchmarks/RESULTS.md, "Classical fills: speed").

    Raises ImportError when PyPatchMatch is not installed (`pip install pypatchmatch`).
    """
    pm = import_patchmatch()
    patch_size = _check_int("patch_size", patch_size, 1, None, "it is the patch radius in pixels (default 3)")
    seed = _check_int("seed", seed, 0, _SEED_MAX, "PyPatchMatch keeps it as a 32-bit unsigned int")
    return apply_filler(image, mask, _patchmatch_filler(pm, patch_size, seed))
