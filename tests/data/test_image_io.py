"""Tests for pconv.data.image_io: every awkward file kind decoded to RGB (modes, 16-bit, EXIF, draft),
oversized headers refused before decoding (decompression bombs), errors that name the file,
and the up-front probe."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from crafted import png_claiming
from PIL import Image

from pconv.data.image_io import ImageLoadError, load_image, open_checked, probe_image, to_tensor


@pytest.mark.parametrize("side", [10_000, 20_000])  # 1.1x and 4.5x PIL's default limit of ~89.5 million pixels
def test_oversized_headers_are_refused_before_decoding(tmp_path, side):
    bomb = png_claiming(tmp_path / "bomb.png", side, side)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning leaks out either
        with pytest.raises(ImageLoadError, match="decompression bomb") as info:
            load_image(bomb)
        assert info.value.path == bomb and str(bomb) in str(info.value)
        assert "decompression bomb" in probe_image(bomb)  # the up-front check sees it, not only the decoder


def test_pixel_limit_follows_pils_setting(tmp_path, monkeypatch):
    Image.new("RGB", (40, 30), (10, 20, 30)).save(tmp_path / "small.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(ImageLoadError, match=r"40 x 30 = 1,200 pixels, more than the limit of 1,000"):
        load_image(tmp_path / "small.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1200)
    assert load_image(tmp_path / "small.png").getpixel((0, 0)) == (10, 20, 30)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)  # PIL's switch to turn the limit off
    with open_checked(png_claiming(tmp_path / "big.png", 20_000, 20_000)) as im:
        assert im.size == (20_000, 20_000)


def test_probe_reasons(tmp_path):
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "ok.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("not a jpeg")
    blob = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(blob[: len(blob) // 2])
    assert probe_image(tmp_path / "ok.png") is None
    assert "empty" in probe_image(tmp_path / "empty.png")
    assert "not a recognised image format" in probe_image(tmp_path / "text.jpg")
    assert "truncated" in probe_image(tmp_path / "cut.png")
    assert probe_image(tmp_path / "missing.png") == "no such file"
    assert "directory" in probe_image(tmp_path)


# --- nothing lost (issue 23) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, values",
    [
        ("I", np.arange(0, 1001, 4, dtype=np.int32)),
        ("F", np.linspace(0, 1000, 251, dtype=np.float32)),
        ("F", np.linspace(-2, 3, 251, dtype=np.float32)),
        ("I", np.arange(0, 4000, 16, dtype=np.int32)),  # 12-bit data: 0..4095
    ],
)
def test_wide_greyscale_is_scaled_by_its_own_range_with_a_warning(tmp_path, mode, values):
    path = tmp_path / "wide.tif"
    Image.fromarray(values[:250].reshape(10, 25), mode).save(path)
    with pytest.warns(UserWarning, match=rf"wide.tif: {mode} image with values .* scaled by its own range"):
        got = np.asarray(load_image(path))[..., 0].astype(np.float64)
    a = values[:250].reshape(10, 25).astype(np.float64)
    lo = min(a.min(), 0)
    assert np.abs(got - (a - lo) / (a.max() - lo) * 255).max() <= 0.5 + 1e-6  # full contrast, not near black
    assert got.max() == 255


@pytest.mark.parametrize(
    "mode, values, scale",
    [("I", np.arange(0, 250), 255), ("F", np.linspace(0, 1, 250), 1), ("I", np.linspace(0, 65535, 250), 65535)],
)
def test_standard_greyscale_ranges_keep_their_meaning_without_a_warning(tmp_path, mode, values, scale):
    path = tmp_path / "grey.tif"
    a = values.reshape(10, 25).astype(np.float32 if mode == "F" else np.int32)
    Image.fromarray(a, mode).save(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = np.asarray(load_image(path))[..., 0].astype(np.float64)
    assert np.abs(got - a.astype(np.float64) / scale * 255).max() <= 0.5 + 1e-6


def test_to_tensor_is_float_chw_in_unit_range():
    im = Image.new("RGB", (3, 2), (255, 0, 51))
    x = to_tensor(im)
    assert x.shape == (3, 2, 3) and x.dtype == torch.float32
    assert torch.allclose(x[:, 1, 2], torch.tensor([1.0, 0.0, 51 / 255]))  # (R, G, B) / 255 at every pixel
    assert torch.equal(x, torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1))
    assert to_tensor(Image.new("L", (2, 2), 255)).shape == (3, 2, 2)  # grey is made RGB first


def test_open_checked_reads_only_the_header_and_refuses_bad_files(tmp_path):
    Image.new("RGB", (40, 30)).save(tmp_path / "ok.png")
    with open_checked(tmp_path / "ok.png") as im:
        assert im.size == (40, 30) and im.format == "PNG"
    (tmp_path / "empty.png").write_bytes(b"")
    for name, why in (("empty.png", "empty"), ("missing.png", "no such file")):
        with pytest.raises(ImageLoadError, match=why) as info:
            with open_checked(tmp_path / name):
                pass
        assert info.value.path == tmp_path / name


# --- load_image on every awkward file kind (the `messy` folder: tests/data/conftest.py) ----------
@pytest.mark.parametrize("name", ["empty.jpg", "truncated.jpg", "notimage.jpg", "missing.png", "sub"])
def test_load_image_errors_name_the_file(messy, name):
    with pytest.raises(ImageLoadError) as info:
        load_image(messy / name)
    err = info.value
    assert isinstance(err, OSError) and err.path == messy / name
    assert str(messy / name) in str(err) and err.reason
    again = pickle.loads(pickle.dumps(err))  # crosses DataLoader worker boundaries intact
    assert again.path == err.path and str(again) == str(err)


def test_load_image_modes(messy):
    for name in ["a.png", "cmyk.jpg", "grey16.png", "palette.png", "rgba.png", "la.png", "onebit.png", "UPPER.JPG"]:
        im = load_image(messy / name)
        assert im.mode == "RGB", name
    assert np.allclose(load_image(messy / "cmyk.jpg").getpixel((5, 5)), (0, 255, 255), atol=3)
    assert load_image(messy / "rgba.png").getpixel((3, 3)) == (127, 127, 127)  # half black over white
    assert load_image(messy / "la.png").getpixel((3, 3)) == (255, 255, 255)  # fully transparent
    assert load_image(messy / "la.png", background=(0, 0, 0)).getpixel((3, 3)) == (0, 0, 0)
    palette = load_image(messy / "palette.png")
    assert palette.getpixel((2, 2)) == (0, 255, 0) and palette.getpixel((15, 2)) == (255, 255, 255)
    assert load_image(messy / "onebit.png").getpixel((0, 0)) == (255, 255, 255)


def test_load_image_16bit_is_scaled_not_clipped(messy):
    raw = np.asarray(Image.open(messy / "grey16.png"), dtype=np.float64)
    got = np.asarray(load_image(messy / "grey16.png"))[..., 0].astype(np.float64)
    assert np.abs(got - raw / 257).max() <= 0.5 + 1e-9  # a plain convert("RGB") saturates at 255
    assert got.max() == 255 and 100 < np.median(got) < 155


def test_load_image_applies_exif_orientation(messy):
    im = load_image(messy / "exif.jpg")
    assert im.size == (20, 40)  # stored 40 x 20, displayed upright
    top, bottom = np.asarray(im)[5, 10], np.asarray(im)[35, 10]
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]  # red half rotated to the top


def test_load_image_draft_decodes_smaller(tmp_path):
    Image.fromarray(np.zeros((600, 800, 3), np.uint8)).save(tmp_path / "big.jpg")
    w, h = load_image(tmp_path / "big.jpg", draft_size=(100, 100)).size
    assert 100 <= min(w, h) and w < 800
