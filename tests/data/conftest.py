"""Fixtures shared by the data-room tests: a photo folder holding every kind of file a real download leaves."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


def _noise(h, w, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    """A folder with every kind of file a real download produces."""
    root = tmp_path_factory.mktemp("messy")
    _noise(30, 40).save(root / "a.png")
    (root / "empty.jpg").write_bytes(b"")
    _noise(256, 256).save(root / "full.jpg", quality=95)
    blob = (root / "full.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(blob[: len(blob) * 6 // 10])
    (root / "full.jpg").unlink()
    (root / "notimage.jpg").write_text("this is not a JPEG")
    Image.new("CMYK", (20, 24), (255, 0, 0, 0)).save(root / "cmyk.jpg")
    Image.fromarray(np.linspace(0, 65535, 24 * 24).astype(np.uint16).reshape(24, 24)).save(root / "grey16.png")
    pal = Image.new("P", (20, 20), 0)
    pal.putpalette([255, 0, 0, 0, 255, 0])
    pal.paste(1, (0, 0, 10, 20))
    pal.save(root / "palette.png", transparency=0)
    Image.new("RGBA", (20, 20), (0, 0, 0, 128)).save(root / "rgba.png")
    Image.new("LA", (20, 20), (40, 0)).save(root / "la.png")
    Image.new("1", (20, 20), 1).save(root / "onebit.png")
    rot = Image.new("RGB", (40, 20), (255, 0, 0))
    rot.paste((0, 0, 255), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotated 90 degrees clockwise
    rot.save(root / "exif.jpg", exif=exif, quality=95)
    _noise(20, 20).save(root / ".hidden.png")
    (root / ".cache").mkdir()
    _noise(20, 20).save(root / ".cache" / "thumb.png")
    _noise(20, 30).save(root / "UPPER.JPG")
    (root / "sub" / "nested").mkdir(parents=True)
    _noise(25, 20).save(root / "sub" / "nested" / "deep.png")
    _noise(10, 10).save(root / "tiny.png")
    (root / "readme.txt").write_text("not an image")
    return root
