"""Reading one image file safely: checked before decoding, decoded in full, converted to RGB.

Real photo folders are messy (CMYK JPEGs, 16-bit PNGs, EXIF rotation, truncated downloads,
headers that claim absurd sizes), so every reader in pconv opens files here, by one set of
rules: `open_checked` reads the header and refuses missing, empty, non-image and oversized
files before any pixel is decoded; `decoded_image` decodes every pixel so that truncation
shows here; `load_image` gives RGB with EXIF orientation applied (`pconv.data.exif`);
`probe_image` is the cheap up-front test that lets datasets skip bad files before training
starts (`pconv.data.image_files`); `to_tensor` turns the result into the (3, H, W) tensor
every dataset returns.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from pconv.data.exif import exif_upright, quarter_turned

__all__ = ["ImageLoadError", "decoded_image", "load_image", "open_checked", "probe_image", "to_tensor"]

_FULL_16BIT = 4096  # an "I" image reaching this far is taken as 16-bit (12-bit data and less: its own range)


class ImageLoadError(OSError):
    """An image file that cannot be decoded; `.path` names the file, `.reason` says why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"cannot load image {self.path}: {reason}")

    def __reduce__(self):  # survives pickling out of a DataLoader worker
        return type(self), (self.path, self.reason)


def _too_large(w: int, h: int, limit: int) -> str:
    return (
        f"its header claims {w} x {h} = {w * h:,} pixels, more than the limit of {limit:,} "
        "(PIL.Image.MAX_IMAGE_PIXELS): a decompression bomb or a corrupt header. Delete the file, or "
        "if it is a genuine huge image, downscale it (or raise PIL.Image.MAX_IMAGE_PIXELS)"
    )


@contextlib.contextmanager
def open_checked(path: str | os.PathLike) -> Iterator[Image.Image]:
    """Open an image file lazily (header only), refusing it before any pixel is decoded.

    The pixel limit is PIL's `Image.MAX_IMAGE_PIXELS` (about 89 million by default; None
    turns it off), read at every call, so one setting governs every reader in pconv.

    Yields:
        The PIL image, not yet decoded (`.size`, `.mode`, `.format` are known); closed after.

    Raises:
        ImageLoadError: missing, empty, non-image or unreadable file, or a header claiming
            more pixels than the limit (a decompression bomb); names the file and why.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(path, "is a directory, not a file" if path.is_dir() else "no such file")
    if path.stat().st_size == 0:
        raise ImageLoadError(path, "the file is empty (0 bytes); re-download it or delete it")
    try:
        with warnings.catch_warnings():  # PIL only warns up to 2x its limit; refused below instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except UnidentifiedImageError:
        raise ImageLoadError(
            path, "not a recognised image format (check the file's contents, not just its extension)"
        ) from None
    except Image.DecompressionBombError as e:  # over 2x the limit: PIL refuses before we see the size
        raise ImageLoadError(path, f"{e} Delete the file, or downscale it if it is a genuine image") from None
    except Exception as e:  # PermissionError, or a header PIL cannot parse (OSError, SyntaxError, ...)
        raise ImageLoadError(path, f"cannot read the file's header ({type(e).__name__}: {e})") from e
    with im:
        w, h = im.size
        limit = Image.MAX_IMAGE_PIXELS
        if limit and w * h > limit:
            raise ImageLoadError(path, _too_large(w, h, limit))
        yield im


@contextlib.contextmanager
def decoded_image(path: str | os.PathLike, draft_size: tuple[int, int] | None = None) -> Iterator[Image.Image]:
    """`open_checked`, then decode every pixel, so that truncation and corruption surface here.

    Args:
        path: the image file.
        draft_size: (width, height); lets JPEG decode at a reduced scale no smaller than this.

    Yields:
        The decoded PIL image in its stored mode (no conversion, no EXIF rotation); closed after.

    Raises:
        ImageLoadError: as `open_checked`, or the decoder failed (names the file and why).
    """
    with open_checked(path) as im:
        try:
            if draft_size is not None and im.format == "JPEG":
                w, h = draft_size
                if quarter_turned(im):
                    w, h = h, w  # the stored image is rotated by 90 degrees
                im.draft(None, (w, h))
            im.load()
        except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, struct.error, ... on bad data
            raise ImageLoadError(
                path,
                f"decoding failed ({type(e).__name__}: {e}); the file is probably truncated "
                "or corrupt: re-download it or delete it",
            ) from e
        yield im


def load_image(
    path: str | os.PathLike,
    *,
    background: tuple[int, int, int] = (255, 255, 255),
    draft_size: tuple[int, int] | None = None,
) -> Image.Image:
    """Decode any common image file to an RGB PIL image, EXIF orientation applied.

    Transparent images (RGBA, LA, palette with transparency) are composited over
    `background` (white by default). 16-bit and 32-bit greyscale are rescaled to 8 bits,
    never clipped: 16-bit by 1/257, float in [0, 1] and ints in 0..255 as they are, and any
    other range (int32 or float 0..1000, say) by its own maximum, with a warning. The file is fully decoded
    here, so truncation is caught here and not later; oversized headers are refused before
    decoding (see `open_checked`).

    Args:
        path: the image file.
        background: RGB 0..255 colour under transparent pixels.
        draft_size: (width, height); lets JPEG decode at a reduced scale no smaller than this.

    Raises:
        ImageLoadError: missing, empty, truncated, corrupt, oversized or non-image file (names it and why).
    """
    with decoded_image(path, draft_size) as im:
        return _to_rgb(exif_upright(im), background, Path(path))


def _to_rgb(im: Image.Image, background: tuple[int, int, int], path: Path) -> Image.Image:
    """Any PIL mode -> a new RGB image (see `load_image` for the rules)."""
    if im.mode.startswith("I") or im.mode == "F":  # 16/32-bit grey: PIL's convert would clip at 255
        a = np.nan_to_num(np.asarray(im, dtype=np.float64))
        lo, hi = float(a.min()), float(a.max())
        if im.mode.startswith("I;16") or (im.mode == "I" and lo >= 0 and _FULL_16BIT <= hi <= 65535):
            a = a / 65535  # a 16-bit image (PIL may open 16-bit PNGs as "I")
        elif im.mode == "F" and lo >= 0 and hi <= 1:
            pass
        elif lo >= 0 and hi <= 255:
            a = a / 255
        else:  # e.g. int32 or float values 0..1000: by 1/65535 they would be near black
            lo = min(lo, 0.0)
            a = (a - lo) / max(hi - lo, 1e-12)
            warnings.warn(
                f"{path}: {im.mode} image with values {lo:g}..{hi:g}, which fit no standard range "
                "(0..1, 0..255, 0..65535); scaled by its own range to 0..1. Convert it to 8 or 16 bits "
                "to control the scaling",
                stacklevel=4,
            )
        return Image.fromarray(np.clip(np.rint(a * 255), 0, 255).astype(np.uint8), "L").convert("RGB")
    if im.mode in ("RGBA", "RGBa", "LA", "La", "PA") or (im.mode == "P" and "transparency" in im.info):
        base = Image.new("RGBA", im.size, (*background, 255))
        return Image.alpha_composite(base, im.convert("RGBA")).convert("RGB")
    return im.convert("RGB")  # 1, L, P, CMYK, YCbCr, RGB (always a new image)


def probe_image(path: str | os.PathLike) -> str | None:
    """Why `path` cannot be used as an image (a cheap header + trailer test), or None if it looks fine.

    Catches what real downloads produce: empty, missing, non-image and oversized files from
    the header, truncated JPEGs and PNGs from their missing end marker (a file without one
    is decoded to tell truncation from trailing data, e.g. motion photos). Corruption in
    the middle of a file shows only when it is decoded.
    """
    path = Path(path)
    try:
        with open_checked(path) as im:
            fmt = im.format
        if fmt in ("JPEG", "PNG"):
            with open(path, "rb") as f:
                f.seek(max(0, path.stat().st_size - 1024))
                tail = f.read()
            if (fmt == "JPEG" and b"\xff\xd9" not in tail) or (fmt == "PNG" and b"IEND" not in tail):
                load_image(path)
    except ImageLoadError as e:
        return e.reason
    except OSError as e:
        return f"cannot read the file ({type(e).__name__}: {e})"
    return None


def to_tensor(im: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float32 (3, H, W) tensor in [0, 1]."""
    a = np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)  # (3, H, W)
    # numpy, not torch ops: these small ops run in every worker, where torch's thread pool only adds overhead
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32) / np.float32(255))
