"""Classical (non-learned) inpainting baselines to compare the network against.

- `biharmonic`: scikit-image's biharmonic inpainting (Damelin & Hoang 2018), smooth
  fill that solves a biharmonic equation inside the holes.
- `harmonic`: a smooth membrane fill (pull-push plus multigrid Jacobi smoothing of
  Laplace's equation, `harmonic_fill`), in torch on any device, fast. `harmonic_fill`
  is the raw fill (no checks, differentiable); a network trained as a correction to it
  learned none that helps (benchmarks/RESULTS.md, "Quality", 2026-12-01 and 2026-12-07).
- `telea`, `navier_stokes`: OpenCV's fast-marching (Telea 2004) and Navier-Stokes
  (Bertalmio et al. 2001) inpainting, radius 3, on 8-bit images. Only when OpenCV is
  importable (`pip install opencv-python-headless`).
- `patchmatch`: PatchMatch (Barnes et al. 2009), patches copied from the known region,
  the paper's "PM" (pconv/evaluation/patchmatch.py). Only when PyPatchMatch is importable
  (`pip install pypatchmatch`).
- `mean_fill`: the holes take the mean colour of the valid pixels (a floor to beat).

Every baseline keeps the contract of pconv/evaluation/fill_contract.py: an image (3, H, W)
or (N, 3, H, W) float in [0, 1] and a mask (1, H, W) or (N, 1, H, W) with 1 = valid, 0 =
hole in; the composite out, same shape, dtype and device as the image, known pixels kept
exactly, values under the holes (NaN and inf included) never reaching the fill, and an
image with no valid pixel filled with grey (`ALL_HOLE_GREY`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from pconv.evaluation.fill_contract import ALL_HOLE_GREY, Filler, apply_filler, check_inputs, fill_doc
from pconv.evaluation.patchmatch import import_patchmatch, patchmatch

__all__ = ["harmonic_fill", "biharmonic", "harmonic", "telea", "navier_stokes", "mean_fill", "available_baselines"]

OPENCV_RADIUS = 3  # inpaint radius in pixels for both OpenCV methods


def _import_cv2():
    """Import OpenCV lazily, or raise an ImportError that says how to install it."""
    try:
        import cv2
    except ImportError as err:
        raise ImportError(
            "The Telea and Navier-Stokes baselines need OpenCV, which is not importable here. "
            "It is a dependency of pconv: `pip install opencv-python-headless` (or reinstall pconv)."
        ) from err
    return cv2


def _importable(importer: Callable[[], object]) -> bool:
    """Whether a lazy importer (`_import_cv2`, `import_patchmatch`) finds its package."""
    try:
        importer()
    except ImportError:
        return False
    return True


def _biharmonic_fill(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    from skimage.restoration import inpaint_biharmonic

    return inpaint_biharmonic(img, hole, channel_axis=-1)


def _opencv_fill(flag_name: str) -> Filler:
    def fill(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
        cv2 = _import_cv2()
        src = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)  # (H, W, 3), channel order is irrelevant
        out = cv2.inpaint(src, hole.astype(np.uint8) * 255, OPENCV_RADIUS, getattr(cv2, flag_name))
        return out.astype(np.float64) / 255.0

    return fill


def _mean_fill(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    valid = ~hole
    colour = img[valid].mean(axis=0)  # (3,); `_fill_one` handles an image that is all hole
    out = img.copy()
    out[hole] = colour
    return out


_JACOBI = torch.tensor([[0.0, 0.25, 0.0], [0.25, 0.0, 0.25], [0.0, 0.25, 0.0]])  # 4-neighbour mean


def harmonic_fill(image: torch.Tensor, mask: torch.Tensor, smoothing: int = 4) -> torch.Tensor:
    """A smooth, fast classical fill of the holes: an approximate harmonic (membrane) interpolation.

    Pull-push (Gortler et al. 1996) with multigrid-style smoothing: the known pixels are
    averaged down a pyramid of 2x2 mask-weighted means; then, coarsest first, each level's
    holes take the bilinear upsampling of the level below and `smoothing` Jacobi steps of
    Laplace's equation (each hole pixel becomes the mean of its 4 neighbours, borders
    replicated). With 4 steps per level it comes within ~0.1 dB of the converged harmonic
    fill at a cost of a few pooling and depthwise 3x3 convolutions per level.

    Args:
        image: (N, C, H, W) float; values under holes are ignored (NaN and inf too).
        mask: (N|1, 1, H, W), 1 = valid, 0 = hole.
        smoothing: Jacobi steps per pyramid level (0: plain pull-push).

    Returns:
        (N, C, H, W): `image` where mask is 1, the fill elsewhere; an image with no valid
        pixel at all fills with zeros. No parameters; differentiable in `image`.
    """
    n, c = image.shape[:2]
    mask = mask.to(image.dtype).expand(n, 1, *image.shape[-2:])
    known = torch.where(mask > 0, image, 0.0)  # select, not multiply: 0 * NaN is NaN
    levels = [(known, mask)]  # (values, 0/1 coverage) per level, finest first
    while min(levels[-1][0].shape[-2:]) > 1:
        x, w = levels[-1]
        total, count = F.avg_pool2d(x * w, 2, ceil_mode=True), F.avg_pool2d(w, 2, ceil_mode=True)
        levels.append((total / count.clamp_min(1e-8), (count > 0).to(image.dtype)))
    kernel = _JACOBI.to(image).expand(c, 1, 3, 3)
    filled = levels[-1][0]
    for x, w in reversed(levels[:-1]):
        filled = F.interpolate(filled, size=x.shape[-2:], mode="bilinear", align_corners=False)
        for _ in range(smoothing):
            filled = w * x + (1 - w) * filled
            filled = F.conv2d(F.pad(filled, (1, 1, 1, 1), mode="replicate"), kernel, groups=c)
        filled = w * x + (1 - w) * filled
    return filled


@fill_doc
def biharmonic(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Biharmonic inpainting (scikit-image `inpaint_biharmonic`, colour channels jointly).

    Slow on large holes (it solves a sparse linear system per image): about a second
    per 256x256 image with half of it missing.
    """
    return apply_filler(image, mask, _biharmonic_fill)


@fill_doc
def harmonic(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A smooth harmonic fill (`harmonic_fill`: pull-push with multigrid smoothing), clamped to [0, 1].

    Torch only, on the image's device, batched: milliseconds where biharmonic takes seconds.
    On 64x64 crops it scores within 0.1 dB of a network trained to correct it
    (benchmarks/RESULTS.md, "Quality", 2026-12-01).
    """
    batch, m, single = check_inputs(image, mask)
    with torch.no_grad():
        fill = harmonic_fill(batch, m).clamp(0, 1)
        empty = (m == 0).flatten(1).all(1)[:, None, None, None]  # (N, 1, 1, 1): no valid pixel at all
        composite = torch.where(m > 0, batch, torch.where(empty, ALL_HOLE_GREY, fill))
    return composite[0] if single else composite


@fill_doc
def telea(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """OpenCV fast-marching inpainting (Telea 2004), radius 3, on the 8-bit image.

    Raises ImportError when OpenCV is not installed (`pip install opencv-python-headless`).
    """
    _import_cv2()
    return apply_filler(image, mask, _opencv_fill("INPAINT_TELEA"))


@fill_doc
def navier_stokes(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """OpenCV Navier-Stokes inpainting (Bertalmio et al. 2001), radius 3, on the 8-bit image.

    Raises ImportError when OpenCV is not installed (`pip install opencv-python-headless`).
    """
    _import_cv2()
    return apply_filler(image, mask, _opencv_fill("INPAINT_NS"))


@fill_doc
def mean_fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill the holes with the per-channel mean of the valid pixels (grey `ALL_HOLE_GREY` if none)."""
    return apply_filler(image, mask, _mean_fill)


def available_baselines() -> dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """The baselines usable here, by name: OpenCV's only when `cv2` imports, PatchMatch only when PyPatchMatch does.

    Returns:
        An ordered dict name -> function, from {"biharmonic", "harmonic", "telea", "navier_stokes",
        "patchmatch", "mean_fill"}.
    """
    found: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
        "biharmonic": biharmonic,
        "harmonic": harmonic,
    }
    if _importable(_import_cv2):
        found.update(telea=telea, navier_stokes=navier_stokes)
    if _importable(import_patchmatch):
        found["patchmatch"] = patchmatch
    found["mean_fill"] = mean_fill
    return found
