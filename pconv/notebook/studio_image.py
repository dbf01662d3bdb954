"""Pixels for the inpainting studio: any photo to an RGB working image, brush strokes to holes.

The studio (`pconv.notebook.studio`, a notebook version of the interactive demos NVIDIA and
PConv-Keras offered for Liu et al. 2018, arXiv:1804.07723) takes a photo in any form a
notebook user has at hand and turns it into one uint8 (H, W, 3) array at a working size;
brush strokes become holes by exact geometry in numpy (a pixel is a hole when its centre
lies within `radius` of the stroke), so the mask never depends on what the browser draws.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from pconv.data import ImageLoadError, displayed_size, exif_upright, load_image

__all__ = [
    "to_rgb_array",
    "load_photo",
    "fit_working_size",
    "stroke_region",
    "overlay_rgba",
    "checker_tile",
    "encode",
    "open_image",
]

# The holes on the canvas: a translucent black-and-white checker with an opaque outline of the same
# checker. One colour always blends into some photo (a magenta tint vanished on red and orange ones);
# of black and white, one stands out on any colour.
CHECKER = 6  # side of a checker square, image pixels
OUTLINE = 2  # width of the outline, image pixels
OVERLAY_DARK, OVERLAY_LIGHT = (0, 0, 0), (255, 255, 255)
OVERLAY_ALPHA = 150  # of 255, inside the hole: the photo stays faintly visible under it
_BIT_DEPTHS = ((255, 255.0), (65535, 65535.0))  # integer maxima -> divisor (8-bit, 16-bit)


def _unit_from_ints(a: np.ndarray, what: str) -> np.ndarray:
    """Integer pixels -> float in [0, 1]: uint16 by 1/65535, other ints by the smallest bit depth that fits."""
    if a.dtype == np.uint16:
        return a / 65535.0
    lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    if lo < 0:
        raise ValueError(f"{what} has negative pixel values (min {lo}); expected 0..255 or 0..65535")
    for top, div in _BIT_DEPTHS:
        if hi <= top:
            return a / div
    raise ValueError(f"{what} has pixel values up to {hi}; expected 8-bit (0..255) or 16-bit (0..65535) values")


def _unit_array(a: np.ndarray, what: str) -> np.ndarray:
    """Any numeric array -> float64 in [0, 1] (bool, 8/16-bit ints, floats that already are in [0, 1])."""
    if a.dtype == bool:
        return a.astype(np.float64)
    if np.issubdtype(a.dtype, np.integer):
        return _unit_from_ints(a, what)
    if not np.issubdtype(a.dtype, np.floating):
        raise ValueError(f"{what} has dtype {a.dtype}; expected uint8, uint16, bool or float in [0, 1]")
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise ValueError(f"{what} contains NaN or infinite values")
    if a.size and (a.min() < 0 or a.max() > 1):
        raise ValueError(
            f"{what} is float with values in [{a.min():.3g}, {a.max():.3g}]; expected [0, 1] "
            "(divide 8-bit values by 255)"
        )
    return a


def _hwc(a: np.ndarray, what: str) -> np.ndarray:
    """(H, W), (H, W, C) or an unambiguous (C, H, W) with C in 1..4 -> (H, W, C)."""
    if a.ndim == 2:
        return a[..., None]
    if a.ndim == 3 and a.shape[-1] in (1, 2, 3, 4):
        return a
    if a.ndim == 3 and a.shape[0] in (1, 2, 3, 4):
        return a.transpose(1, 2, 0)  # channels first, as torch keeps them
    raise ValueError(
        f"{what} has shape {tuple(a.shape)}; expected (H, W) grey, (H, W, 3) RGB, (H, W, 4) RGBA "
        "or channels first (3, H, W)"
    )


def to_rgb_array(image: Any, *, what: str = "image") -> np.ndarray:
    """A photo held in memory -> uint8 RGB (H, W, 3); transparency is composited over white.

    Args:
        image: a PIL image (EXIF orientation applied, any mode), a numpy array (H, W), (H, W, 1..4)
            or (C, H, W), or a tensor (C, H, W) / (1, C, H, W) / (H, W); uint8, uint16, bool, or
            float in [0, 1]. Grey becomes RGB; grey+alpha and RGBA are composited over white.
        what: how error messages name the input.

    Returns:
        A new uint8 array (H, W, 3).

    Raises:
        ValueError: a shape, dtype or value range that is not an image (the message says which).
    """
    if isinstance(image, Image.Image):
        image = exif_upright(image)
        if image.mode in ("P", "PA") or image.mode not in ("1", "L", "LA", "RGB", "RGBA", "I", "I;16", "F"):
            alpha = "A" in image.getbands() or "transparency" in image.info
            image = image.convert("RGBA" if alpha else "RGB")  # palette, CMYK, YCbCr, LAB, HSV, ...
        a = np.asarray(image)
        if image.mode == "F" and a.size and a.max() > 1:  # 32-bit float grey stored as 0..255 or 0..65535
            a = np.rint(a).astype(np.int64)
    elif isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim == 3 and t.shape[0] not in (1, 2, 3, 4):
            raise ValueError(f"{what} tensor has shape {tuple(image.shape)}; expected (3, H, W) or (1, 3, H, W)")
        a = t.float().numpy() if t.dtype in (torch.float16, torch.bfloat16) else t.numpy()
    elif isinstance(image, np.ndarray):
        a = image
    else:
        raise TypeError(
            f"{what} must be a file path, a PIL image, a numpy array or a torch tensor, got {type(image).__name__}"
        )
    a = _hwc(np.asarray(a), what)
    if min(a.shape[:2]) < 1:
        raise ValueError(f"{what} is empty (shape {tuple(a.shape)})")
    a = _unit_array(a, what)  # (H, W, C) in [0, 1]
    colour, alpha = (a[..., :1], a[..., 1:2]) if a.shape[-1] in (1, 2) else (a[..., :3], a[..., 3:4])
    if a.shape[-1] in (2, 4):
        colour = colour * alpha + (1 - alpha)  # over white, as pconv.data.load_image does
    rgb = np.broadcast_to(colour, (*a.shape[:2], 3))
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def load_photo(path: str | os.PathLike, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode an image file with `pconv.data.load_image` (EXIF, alpha over white, 16-bit, clear errors).

    Large JPEGs are decoded at a reduced scale that is still at least `size` on each side, so a
    phone photo opens in a fraction of the time a full decode takes.

    Args:
        path: the image file.
        size: the working size the caller will fit the image to.

    Returns:
        (uint8 RGB array (H, W, 3), (width, height) of the file as displayed, EXIF rotation applied).

    Raises:
        pconv.data.ImageLoadError: missing, empty, corrupt or non-image file (names it and why).
    """
    original = None
    with contextlib.suppress(Exception), Image.open(path) as im:  # header only: the size the user knows
        original = displayed_size(im)
    rgb = np.asarray(load_image(path, draft_size=(size, size)))
    return rgb, original or (rgb.shape[1], rgb.shape[0])


def fit_working_size(rgb: np.ndarray, size: int) -> np.ndarray:
    """Shrink `rgb` (H, W, 3) uint8 so its long side is at most `size` (aspect kept, Lanczos); else return it."""
    h, w = rgb.shape[:2]
    if max(h, w) <= size:
        return rgb
    scale = size / max(h, w)
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(rgb).resize(new, Image.Resampling.LANCZOS, reducing_gap=3.0))


def open_image(image: Any, size: int, name: str | None = None) -> tuple[np.ndarray, str]:
    """Anything the studio takes -> (uint8 RGB (H, W, 3) at most `size` on its long side, a note saying what it is).

    Args:
        image: a file path, the bytes of an image file, or what `to_rgb_array` takes.
        size: the working size (long side, pixels).
        name: how the note and errors call the image (default: the file name or the type).

    Raises:
        pconv.data.ImageLoadError: a file (or bytes) that cannot be decoded, named by `name`.
        ValueError, TypeError: an array or object that is not an image.
    """
    if isinstance(image, (bytes, bytearray, memoryview)):
        name = name or "the image bytes"
        suffix = Path(name).suffix if len(Path(name).suffix) <= 5 else ""
        with tempfile.TemporaryDirectory(prefix="pconv-studio-") as tmp:
            path = Path(tmp) / f"upload{suffix}"  # load_image reads files: it knows EXIF, 16-bit, truncation
            path.write_bytes(bytes(image))
            try:
                rgb, original = load_photo(path, size)
            except ImageLoadError as e:
                raise ImageLoadError(name, e.reason) from None  # name the user's file, not the temporary one
    elif isinstance(image, (str, os.PathLike)):
        rgb, original = load_photo(image, size)
        name = name or Path(image).name
    else:
        rgb = to_rgb_array(image, what=name or "image")
        original, name = (rgb.shape[1], rgb.shape[0]), name or f"a {type(image).__name__}"
    fitted = np.ascontiguousarray(fit_working_size(rgb, size))
    h, w = fitted.shape[:2]
    note = f"{name}, {w}x{h}"
    if (w, h) != tuple(original):
        note += f" (resized from {original[0]}x{original[1]}: the studio works at most {size} px on the long side)"
    return fitted, note


def _check_points(points: Any) -> np.ndarray:
    try:
        pts = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError):
        pts = np.empty(0)
    if pts.shape == (2,):
        pts = pts[None]  # a single (x, y)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0 or not np.isfinite(pts).all():
        raise ValueError(f"points must be a non-empty list of (x, y) pairs of finite numbers, got {points!r}")
    return pts


def _check_radius(radius: Any) -> float:
    if isinstance(radius, bool) or not isinstance(radius, (int, float, np.number)) or not 0 < radius < math.inf:
        raise ValueError(f"radius must be a finite positive number of pixels (e.g. 12), got {radius!r}")
    return float(radius)


def stroke_region(shape: tuple[int, int], points: Sequence[Sequence[float]], radius: float) -> np.ndarray:
    """Pixels within `radius` of the polyline through `points` (a single point: a disk).

    Pixel (row r, column c) has its centre at (x, y) = (c, r); it is covered when that centre
    lies within `radius` of a segment. Points may lie outside the image: the stroke is clipped.

    Args:
        shape: (H, W) of the mask.
        points: [(x, y), ...] in image pixels, x = column, y = row.
        radius: brush radius in pixels, > 0.

    Returns:
        bool array (H, W), True where the stroke covers.

    Raises:
        ValueError: `points` is not a non-empty list of finite (x, y) pairs, or `radius` is not > 0.
    """
    pts, radius = _check_points(points), _check_radius(radius)
    h, w = shape
    out = np.zeros((h, w), dtype=bool)
    r2 = radius * radius
    segments = zip(pts[:-1], pts[1:]) if len(pts) > 1 else [(pts[0], pts[0])]
    for a, b in segments:
        x0 = max(0, int(np.floor(min(a[0], b[0]) - radius)))
        x1 = min(w, int(np.ceil(max(a[0], b[0]) + radius)) + 1)
        y0 = max(0, int(np.floor(min(a[1], b[1]) - radius)))
        y1 = min(h, int(np.ceil(max(a[1], b[1]) + radius)) + 1)
        if x0 >= x1 or y0 >= y1:
            continue  # the segment's reach lies outside the image
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)  # pixel centres, (h', w') each
        d = b - a
        length2 = float(d @ d)
        t = 0.0 if length2 == 0 else np.clip(((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / length2, 0, 1)
        dist2 = (xs - a[0] - t * d[0]) ** 2 + (ys - a[1] - t * d[1]) ** 2  # to the nearest point of the segment
        out[y0:y1, x0:x1] |= dist2 <= r2
    return out


def _checker(shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: True on the dark squares of the checker, anchored at pixel (0, 0)."""
    rows, cols = np.arange(shape[0]) // CHECKER, np.arange(shape[1]) // CHECKER
    return (rows[:, None] + cols[None, :]) % 2 == 0


def checker_tile() -> np.ndarray:
    """One period of the hole checker, (2 * CHECKER, 2 * CHECKER, 4) uint8: the canvas's stroke preview
    repeats it as a pattern, so a stroke in progress looks like the hole it becomes."""
    dark = _checker((2 * CHECKER, 2 * CHECKER))
    out = np.empty((*dark.shape, 4), dtype=np.uint8)
    out[..., :3] = np.where(dark[..., None], OVERLAY_DARK, OVERLAY_LIGHT)
    out[..., 3] = OVERLAY_ALPHA
    return out


def overlay_rgba(hole: np.ndarray) -> np.ndarray:
    """The canvas's mask layer: a translucent checker on holes, opaque within `OUTLINE` pixels of their edge.

    Args:
        hole: (H, W) bool, True = hole.

    Returns:
        (H, W, 4) uint8 RGBA, transparent where there is no hole.
    """
    out = np.zeros((*hole.shape, 4), dtype=np.uint8)
    out[hole, :3] = np.where(_checker(hole.shape)[hole][:, None], OVERLAY_DARK, OVERLAY_LIGHT)
    inner = hole.copy()
    for _ in range(OUTLINE):  # erode by one pixel (4-neighbours); the image border is no edge
        p = np.pad(inner, 1, mode="edge")
        inner = p[1:-1, 1:-1] & p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    out[..., 3] = np.where(hole, np.where(inner, OVERLAY_ALPHA, 255), 0)
    return out


def encode(rgb: np.ndarray, fmt: str = "png") -> bytes:
    """uint8 (H, W, 3|4) -> PNG (lossless, fast compression) or JPEG (quality 95, for quick previews) bytes."""
    buf = io.BytesIO()
    if fmt == "png":
        Image.fromarray(rgb).save(buf, "PNG", compress_level=1)
    else:
        Image.fromarray(rgb).save(buf, "JPEG", quality=95)
    return buf.getvalue()
