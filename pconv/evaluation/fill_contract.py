"""The contract every classical fill keeps, and the loop that runs a per-image numpy fill under it.

A classical fill (`baselines.py`, `patchmatch.py`) takes an image (3, H, W) or (N, 3, H, W)
float in [0, 1] and a mask (1, H, W) or (N, 1, H, W) with 1 = valid, 0 = hole, and returns the
composite with the same shape, dtype and device as the image: known pixels are kept exactly,
and values under the holes (NaN and inf included) never reach the fill. An image with no valid
pixel is filled with grey (`ALL_HOLE_GREY`) by every fill. `check_inputs` refuses anything else
with a message naming the argument; `apply_filler` runs a numpy filler image by image.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from pconv.utils import check_binary_mask

__all__ = ["ALL_HOLE_GREY", "Filler", "fill_doc", "check_inputs", "apply_filler"]

ALL_HOLE_GREY = 0.5  # the fill of an image with no valid pixel, whatever the method

# A per-image filler: image (H, W, 3) float64 in [0, 1], 0 under the holes, hole (H, W) bool -> filled (H, W, 3).
Filler = Callable[[np.ndarray, np.ndarray], np.ndarray]

# What every fill's docstring ends with (the shared contract above), appended by `fill_doc`.
_FILL_ARGS = """
    Args:
        image: (N, 3, H, W) or (3, H, W), float in [0, 1]; values under holes are ignored.
        mask: (N|1, 1, H, W) or (1, H, W), 1 = valid, 0 = hole.

    Returns:
        The composite, same shape, dtype and device as `image`, in [0, 1]; valid pixels unchanged.
"""


def fill_doc(fn: Callable) -> Callable:
    """Append the shared Args/Returns to a fill's docstring (a decorator)."""
    fn.__doc__ = (fn.__doc__ or "").rstrip() + "\n" + _FILL_ARGS
    return fn


def check_inputs(image: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Check a fill's inputs.

    Returns:
        (image (N, 3, H, W), mask (N, 1, H, W) expanded over the batch, whether one (3, H, W) image was given).
    """
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


def apply_filler(image: torch.Tensor, mask: torch.Tensor, fill: Filler) -> torch.Tensor:
    """Run a numpy filler image by image and return the composite as a tensor (the contract above)."""
    image, mask, single = check_inputs(image, mask)
    known = mask > 0  # (N, 1, H, W)
    img_np = torch.where(known, image, 0.0).detach().to("cpu", torch.float64).permute(0, 2, 3, 1).numpy()
    hole_np = ~known.to("cpu")[:, 0].numpy()  # (N, H, W), True = hole
    filled = np.stack([_fill_one(fill, img, hole) for img, hole in zip(img_np, hole_np)])  # (N, H, W, 3)
    output = torch.from_numpy(filled).permute(0, 3, 1, 2).to(image.device, image.dtype)  # (N, 3, H, W)
    composite = torch.where(known, image, output.clamp(0, 1))
    return composite[0] if single else composite


def _fill_one(fill: Filler, img: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`fill`, except where it has nothing to work with: no hole (the image) or no valid pixel (grey)."""
    if not hole.any():
        return img
    if hole.all():  # nothing to propagate: every fill gives the same neutral grey (biharmonic would fail)
        return np.full_like(img, ALL_HOLE_GREY)
    return fill(img, hole)
