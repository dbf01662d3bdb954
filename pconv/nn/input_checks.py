"""What the inpainting networks check at their entry (`pconv.nn.inpainter.Inpainter`), in one place.

- `check_image`: a (N, C, H, W) tensor, else a message that says what to do;
  `check_image_and_mask`: a float image and a (N|1, 1, H, W) mask that matches it.
- `check_image_and_mask_values`: a binary mask and an image in [0, 1] at its known pixels
  (an image in [0, 255], in [-1, 1] or ImageNet-normalised is refused, and so is NaN or
  inf at a known pixel), at the cost of one host read (one device sync on a GPU).
- `normalize_config`: the `normalize=(mean, std)` argument, as the plain lists `.config`
  records (so `torch.load(weights_only=True)` reads checkpoints back).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from pconv.utils import check_binary_mask

__all__ = [
    "IMAGE_RANGE_SLACK",
    "check_image",
    "check_image_and_mask",
    "check_image_and_mask_values",
    "normalize_config",
    "shape_of",
]

# Known pixels may stray this far outside [0, 1] (resampling overshoot) before an image is refused:
# far enough for bicubic ringing, too little for an image in [0, 255], [-1, 1] or ImageNet-normalised.
IMAGE_RANGE_SLACK = 0.5


def shape_of(value: object) -> object:
    """A tensor's shape as a tuple, else the type name: for error messages."""
    return tuple(value.shape) if isinstance(value, Tensor) else type(value).__name__


def check_image(image: Tensor, channels: int, hint: str) -> None:
    """Raise ValueError unless `image` is a (N, channels, H, W) tensor; `hint` says what to do."""
    if not isinstance(image, Tensor) or image.ndim != 4 or image.shape[1] != channels:
        raise ValueError(f"image must be (N, {channels}, H, W), got {shape_of(image)}; {hint}")


def check_image_and_mask(image: Tensor, mask: Tensor, channels: int) -> None:
    """Shapes and dtypes of a batch for the inpainting network (any H and W); ValueError says what to do."""
    check_image(image, channels, "for one (C, H, W) image use image[None], or model.inpaint(), which takes either")
    if not image.is_floating_point():
        raise ValueError(f"image must be a float tensor in [0, 1], got dtype {image.dtype}")
    if not isinstance(mask, Tensor) or mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(f"mask must be (N, 1, H, W) with 1 = valid and 0 = hole, got {shape_of(mask)}")
    if mask.shape[0] not in (1, image.shape[0]) or mask.shape[-2:] != image.shape[-2:]:
        raise ValueError(
            f"mask {tuple(mask.shape)} does not match image {tuple(image.shape)}: "
            "they need the same H and W, and mask batch 1 or N"
        )
    if image.numel() == 0:
        raise ValueError(f"image has no pixels: shape {tuple(image.shape)}")


def check_image_and_mask_values(image: Tensor, mask: Tensor) -> None:
    """Raise ValueError unless `mask` is binary and `image` (zero under holes) is finite and in [0, 1].

    Both checks share one host read: one device sync per call on a GPU, the one the
    binary-mask check alone already cost, plus a min/max pass over the input.
    """
    lo, hi = image.aminmax()
    binary = ((mask == 0) | (mask == 1)).all()
    lo, hi, binary = torch.stack([lo.float(), hi.float(), binary.float()]).tolist()
    if not binary:
        check_binary_mask(mask, "mask")  # raises, with the package's one message for it
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(
            "image has NaN or inf at known pixels (mask = 1); only values under holes (mask = 0) are ignored"
        )
    if lo < -IMAGE_RANGE_SLACK or hi > 1 + IMAGE_RANGE_SLACK:
        raise ValueError(
            f"image must be float in [0, 1], but its known pixels span [{lo:.4g}, {hi:.4g}]. Divide 8-bit "
            "images by 255 and map [-1, 1] images with (image + 1) / 2; a network trained on normalised "
            "images also takes [0, 1] images: build it with normalize=(mean, std)"
        )


def _per_channel(value: Any, channels: int, name: str) -> list[float]:
    """A float, or one float per channel, as a list of `channels` floats; else ValueError naming `name`."""
    values: list[float] = []
    if not isinstance(value, str):
        try:
            values = [float(value)] * channels  # one number for every channel
        except (TypeError, ValueError):
            try:
                values = [float(v) for v in value]
            except (TypeError, ValueError):
                pass
    if len(values) != channels or not all(math.isfinite(v) for v in values):
        raise ValueError(
            f"normalize {name} must be a finite float or {channels} finite floats (one per channel), got {value!r}"
        )
    return values


def normalize_config(normalize: Any, channels: int) -> list[list[float]] | None:
    """`normalize` as [mean, std] lists of `channels` floats (what `.config` records), or None."""
    if normalize is None:
        return None
    try:
        mean, std = normalize
    except (TypeError, ValueError):
        raise ValueError(
            f"normalize must be None or (mean, std), e.g. ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)) for "
            f"ImageNet or (0.5, 0.5) for [-1, 1]; got {normalize!r}"
        ) from None
    mean, std = _per_channel(mean, channels, "mean"), _per_channel(std, channels, "std")
    if min(std) <= 0:
        raise ValueError(f"normalize std must be > 0 for every channel, got {std}")
    return [mean, std]
