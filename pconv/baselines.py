"""Classical (non-learned) inpainting baselines to compare the network against.

- `biharmonic`: scikit-image's biharmonic inpainting (Damelin & Hoang 2018), smooth
  fill that solves a biharmonic equation inside the holes.
- `harmonic`: a smooth membrane fill (pull-push plus multigrid Jacobi smoothing of
  Laplace's equation, `pconv.layers.harmonic_fill`), in torch on any device, fast.
- `telea`, `navier_stokes`: OpenCV's fast-marching (Telea 2004) and Navier-Stokes
  (Bertalmio et al. 2001) inpainting, radius 3, on 8-bit images. Only when OpenCV is
  importable (`pip install opencv-python-headless`).
- `mean_fill`: the holes take the mean colour of the valid pixels (a floor to beat).

Every function takes an image (3, H, W) or (N, 3, H, W) float in [0, 1] and a mask
(1, H, W) or (N, 1, H, W) with 1 = valid, 0 = hole, and returns the composite with
the same shape, dtype and device as the image: known pixels are kept exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from pconv.utils import check_binary_mask

__all__ = ["biharmonic", "harmonic", "telea", "navier_stokes", "mean_fill", "available_baselines"]

OPENCV_RADIUS = 3  # inpaint radius in pixels for both OpenCV methods

# A per-image filler: image (H, W, 3) float64 in [0, 1], hole (H, W) bool -> filled (H, W, 3).
_Filler = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _import_cv2():
    """Import OpenCV lazily, or raise an ImportError that says how to install it."""
    try:
        import cv2
    except ImportError as err:
        raise ImportError(
            "The Telea and Navier-Stokes baselines need OpenCV, which is not importable here. "
            "Install it with `pip install opencv-python-headless` (or `pip install -e .[opencv]`)."
        ) from err
    return cv2


def _batched(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Check a baseline's inputs; return (N, 3, H, W) image, (N, 1, H, W) mask, and whether it was one image."""
    single = image.dim() == 3
    if single:
        image, mask = image.unsqueeze(0), mask.unsqueeze(0)
    if image.dim() != 4 or image.shape[1] != 3:
        raise ValueError(f"image must be (3, H, W) or (N, 3, H, W), got shape {tuple(image.shape)}")
    if mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[-2:] != image.shape[-2:]:
        raise ValueError(
            f"mask must be (1, H, W) or (N, 1, H, W) matching the image size {tuple(image.shape[-2:])}, "
            f"got shape {tuple(mask.shape)}"
        )
    if mask.shape[0] not in (1, image.shape[0]):
        raise ValueError(f"mask batch {mask.shape[0]} does not match image batch {image.shape[0]}")
    check_binary_mask(mask)
    return image, mask.expand(image.shape[0], -1, -1, -1), single


def _apply(image: torch.Tensor, mask: torch.Tensor, fill: _Filler) -> torch.Tensor:
    """Run a numpy filler image by image and return the composite as a tensor."""
    image, mask, single = _batched(image, mask)
    img_np = image.detach().to("cpu", torch.float64).permute(0, 2, 3, 1).numpy()  # (N, H, W, 3)
    hole_np = mask.detach().to("cpu")[:, 0].numpy() == 0  # (N, H, W), True = hole
    filled = np.stack([fill(img, hole) if hole.any() else img for img, hole in zip(img_np, hole_np)])
    output = torch.from_numpy(filled).permute(0, 3, 1, 2).to(image.device, image.dtype)  # (N, 3, H, W)
    output = output.clamp(0, 1)
    m = mask.to(image.dtype)
    composite = m * image + (1 - m) * output
    return composite[0] if single else composite


def _biharmonic_fill(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    from skimage.restoration import inpaint_biharmonic

    return inpaint_biharmonic(img, hole, channel_axis=-1)


def _opencv_fill(flag_name: str) -> _Filler:
    def fill(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
        cv2 = _import_cv2()
        src = np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)  # (H, W, 3), channel order is irrelevant
        out = cv2.inpaint(src, hole.astype(np.uint8) * 255, OPENCV_RADIUS, getattr(cv2, flag_name))
        return out.astype(np.float64) / 255.0

    return fill


def _mean_fill(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    valid = ~hole
    colour = img[valid].mean(axis=0) if valid.any() else np.full(3, 0.5)  # (3,); grey when all is hole
    out = img.copy()
    out[hole] = colour
    return out


def biharmonic(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Biharmonic inpainting (scikit-image `inpaint_biharmonic`, colour channels jointly).

    Slow on large holes (it solves a sparse linear system per image): about a second
    per 256x256 image with half of it missing.

    Args:
        image: (N, 3, H, W) or (3, H, W), float in [0, 1].
        mask: (N, 1, H, W) or (1, H, W), 1 = valid, 0 = hole.

    Returns:
        The composite, same shape as `image`, in [0, 1]; valid pixels unchanged.
    """
    return _apply(image, mask, _biharmonic_fill)


def harmonic(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A smooth harmonic fill (`pconv.layers.harmonic_fill`: pull-push with multigrid smoothing).

    Torch only, on the image's device, batched: milliseconds where biharmonic takes seconds.
    `PConvUNet(residual=True)` learns a correction to this fill.

    Args:
        image: (N, 3, H, W) or (3, H, W), float in [0, 1].
        mask: (N, 1, H, W) or (1, H, W), 1 = valid, 0 = hole.

    Returns:
        The composite, same shape as `image`, in [0, 1]; valid pixels unchanged.
    """
    from pconv.layers import harmonic_fill

    batch, m, single = _batched(image, mask)
    m = m.to(batch.dtype)
    with torch.no_grad():
        composite = m * batch + (1 - m) * harmonic_fill(batch, m).clamp(0, 1)
    return composite[0] if single else composite


def telea(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """OpenCV fast-marching inpainting (Telea 2004), radius 3, on the 8-bit image.

    Args:
        image: (N, 3, H, W) or (3, H, W), float in [0, 1].
        mask: (N, 1, H, W) or (1, H, W), 1 = valid, 0 = hole.

    Returns:
        The composite, same shape as `image`, in [0, 1]; valid pixels unchanged.

    Raises:
        ImportError: OpenCV is not installed (`pip install opencv-python-headless`).
    """
    _import_cv2()
    return _apply(image, mask, _opencv_fill("INPAINT_TELEA"))


def navier_stokes(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """OpenCV Navier-Stokes inpainting (Bertalmio et al. 2001), radius 3, on the 8-bit image.

    Args:
        image: (N, 3, H, W) or (3, H, W), float in [0, 1].
        mask: (N, 1, H, W) or (1, H, W), 1 = valid, 0 = hole.

    Returns:
        The composite, same shape as `image`, in [0, 1]; valid pixels unchanged.

    Raises:
        ImportError: OpenCV is not installed (`pip install opencv-python-headless`).
    """
    _import_cv2()
    return _apply(image, mask, _opencv_fill("INPAINT_NS"))


def mean_fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Fill the holes with the per-channel mean of the valid pixels (grey 0.5 if none).

    Args:
        image: (N, 3, H, W) or (3, H, W), float in [0, 1].
        mask: (N, 1, H, W) or (1, H, W), 1 = valid, 0 = hole.

    Returns:
        The composite, same shape as `image`, in [0, 1]; valid pixels unchanged.
    """
    return _apply(image, mask, _mean_fill)


def available_baselines() -> dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]:
    """The baselines usable here, by name: OpenCV's only when `cv2` imports.

    Returns:
        An ordered dict name -> function, from {"biharmonic", "harmonic", "telea", "navier_stokes",
        "mean_fill"}.
    """
    found: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
        "biharmonic": biharmonic,
        "harmonic": harmonic,
    }
    try:
        _import_cv2()
    except ImportError:
        pass
    else:
        found.update(telea=telea, navier_stokes=navier_stokes)
    found["mean_fill"] = mean_fill
    return found
