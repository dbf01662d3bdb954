"""EXIF orientation: the one place pconv reads it.

Cameras and phones store pixels as the sensor saw them and record in EXIF tag 0x0112
("Orientation", values 1 to 8, EXIF 2.3 / TIFF 6.0) how to turn them for display; values
5 to 8 include a quarter turn, so the displayed width and height are swapped. Both readers
of photos use these helpers: `pconv.data.image_io` (decoding files, and sizing the JPEG
draft) and the studio's in-memory images (pconv/notebook/studio_image.py).
"""

from __future__ import annotations

import contextlib

from PIL import Image, ImageOps

__all__ = ["displayed_size", "exif_upright", "quarter_turned"]

_ORIENTATION = 0x0112  # the EXIF "Orientation" tag
_QUARTER_TURNS = (5, 6, 7, 8)  # orientations that rotate by 90 or 270 degrees (5 and 7 also mirror)


def quarter_turned(im: Image.Image) -> bool:
    """Whether `im`'s EXIF orientation turns it by 90 or 270 degrees for display (read from the header).

    Raises:
        Whatever PIL raises on malformed EXIF; callers decide whether that is fatal.
    """
    return im.getexif().get(_ORIENTATION, 1) in _QUARTER_TURNS


def displayed_size(im: Image.Image) -> tuple[int, int]:
    """(width, height) of `im` as displayed, EXIF rotation applied; needs only the header.

    Raises:
        Whatever PIL raises on malformed EXIF (see `quarter_turned`).
    """
    w, h = im.size
    return (h, w) if quarter_turned(im) else (w, h)


def exif_upright(im: Image.Image) -> Image.Image:
    """`im` turned as its EXIF orientation says (a new image); with malformed EXIF, `im` as stored."""
    with contextlib.suppress(Exception):  # malformed EXIF: keep the pixels as stored
        return ImageOps.exif_transpose(im)
    return im
