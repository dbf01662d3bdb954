"""Tests for pconv.data.exif: EXIF orientation, read once for files (load_image) and in-memory images (studio)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from pconv.data.exif import displayed_size, exif_upright, quarter_turned


def _tagged(orientation: int | None) -> Image.Image:
    """A 40 x 20 JPEG, red left half and blue right half, reopened with the given EXIF orientation."""
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    im.paste((0, 0, 255), (20, 0, 40, 20))
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=95)
    return Image.open(io.BytesIO(buf.getvalue()))


ORIENTATIONS = [(None, False), (1, False), (3, False), (5, True), (6, True), (8, True)]  # (tag, quarter turn)


@pytest.mark.parametrize("orientation, turned", ORIENTATIONS)
def test_quarter_turns_swap_the_displayed_size(orientation, turned):
    im = _tagged(orientation)
    assert im.size == (40, 20)  # as stored
    assert quarter_turned(im) is turned
    assert displayed_size(im) == ((20, 40) if turned else (40, 20))
    assert exif_upright(im).size == displayed_size(im)  # the header's answer matches the decoded pixels


def test_exif_upright_turns_the_pixels():
    up = np.asarray(exif_upright(_tagged(6)))  # 6: rotate 90 degrees clockwise to view
    top, bottom = up[5, 10], up[35, 10]
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]  # the red (left) half is now on top


def test_malformed_exif_keeps_the_pixels_as_stored(monkeypatch):
    im = _tagged(6)

    def broken(*args, **kwargs):
        raise SyntaxError("not a TIFF file")

    monkeypatch.setattr("PIL.ImageOps.exif_transpose", broken)
    assert exif_upright(im) is im
