"""Tests for pconv/dataio.py: oversized headers refused before decoding (decompression bombs),
the up-front probe, and the per-item helpers every dataset shares."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from crafted import png_claiming
from PIL import Image

from pconv.data.image_io import (
    ImageLoadError,
    check_index,
    find_images,
    item_rng,
    load_image,
    open_image,
    probe_image,
    read_with_fallback,
    readable_images,
    split_indices,
    warn_skipped,
)


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
    with open_image(png_claiming(tmp_path / "big.png", 20_000, 20_000)) as im:
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


def test_readable_images_keeps_the_order_and_says_why_each_file_is_left_out(tmp_path):
    names = ["b.png", "bad.png", "a.png", "empty.png"]
    for name in names:
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    (tmp_path / "bad.png").write_text("not a png")
    (tmp_path / "empty.png").write_bytes(b"")
    files, skipped = readable_images([tmp_path / n for n in names])
    assert files == [tmp_path / "b.png", tmp_path / "a.png"]
    assert [(p.name, probe_image(p)) for p, _ in skipped] == [(p.name, why) for p, why in skipped]
    assert [p.name for p, _ in skipped] == ["bad.png", "empty.png"]


def test_warn_skipped_lists_ten_files_and_points_at_the_caller_s_caller():
    skipped = [(f"f{i}.png", "truncated") for i in range(12)]

    def dataset():  # a constructor that warns on behalf of its caller
        warn_skipped("Demo(/data)", skipped)

    with pytest.warns(UserWarning) as caught:
        dataset()
    (w,) = caught
    text = str(w.message)
    assert text.startswith("Demo(/data): skipping 12 unreadable file(s):\n  f0.png: truncated\n")
    assert "f9.png" in text and "f10.png" not in text and text.endswith("... and 2 more (see .skipped)")
    assert w.filename == __file__


def test_check_index():
    assert [check_index(i, 3) for i in (0, 2, -1, -3)] == [0, 2, 2, 0]
    for bad in (3, -4):
        with pytest.raises(IndexError, match="length 3"):
            check_index(bad, 3)


def test_item_rng_is_keyed_or_follows_torch():
    assert item_rng(1, 2, 3).random() == np.random.default_rng([1, 2, 3]).random()
    assert item_rng(1, 2, 3).random() != item_rng(1, 2, 4).random()
    torch.manual_seed(0)
    a = item_rng(None).random()
    torch.manual_seed(0)
    assert item_rng(None).random() == a


def test_split_indices_partition():
    train, val = split_indices(10, 0.3, seed=0)
    assert sorted(train + val) == list(range(10)) and len(val) == 3 and train == sorted(train)
    assert (train, val) == split_indices(10, 0.3, seed=0) and val != split_indices(10, 0.3, seed=1)[1]
    assert split_indices(2, 0.01, 0)[1] != [] and split_indices(5, 0.0, 0) == ([0, 1, 2, 3, 4], [])
    with pytest.raises(ValueError, match="val_fraction"):
        split_indices(10, 1.0, 0)


def test_read_with_fallback_serves_the_next_file_and_says_when_none_reads(tmp_path):
    files = [tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"]
    Image.new("RGB", (4, 4), (9, 9, 9)).save(files[2])
    bad, skipped = set(), []
    with pytest.warns(UserWarning, match=r"Owner: skipping unreadable .*[ab]\.png: no such file") as caught:
        im = read_with_fallback(files, 0, load_image, bad, skipped, "Owner")
    assert im.getpixel((0, 0)) == (9, 9, 9) and bad == {0, 1} and [p for p, _ in skipped] == files[:2]
    assert len(caught) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # known-bad files are not tried (nor warned about) again
        assert read_with_fallback(files, 1, load_image, bad, skipped, "Owner").getpixel((0, 0)) == (9, 9, 9)
    files[2].unlink()
    with pytest.raises(RuntimeError, match="Owner: none of the 3 files"), pytest.warns(UserWarning, match="c.png"):
        read_with_fallback(files, 2, load_image, bad, skipped, "Owner")


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


def test_find_images_follows_symlinked_folders_once_and_survives_loops(tmp_path):
    root, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    (root / "own").mkdir(parents=True)
    elsewhere.mkdir()
    Image.new("RGB", (4, 4)).save(root / "own" / "a.png")
    Image.new("RGB", (4, 4)).save(elsewhere / "b.png")
    (root / "linked").symlink_to(elsewhere, target_is_directory=True)
    (root / "again").symlink_to(elsewhere, target_is_directory=True)  # a second link: read once
    (elsewhere / "loop").symlink_to(root, target_is_directory=True)  # back up: a loop
    (root / "own" / "self").symlink_to(root / "own", target_is_directory=True)
    found = [p.relative_to(root).as_posix() for p in find_images(root)]
    assert sorted(p.split("/")[-1] for p in found) == ["a.png", "b.png"]
    assert "own/a.png" in found and ({"again/b.png", "linked/b.png"} & set(found))  # b.png through one link
