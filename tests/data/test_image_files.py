"""Tests for pconv.data.image_files: finding images in a folder (filters, order, symlinks), leaving out
unreadable ones with one warning, and serving the next readable file when one fails late."""

from __future__ import annotations

import warnings

import pytest
from PIL import Image

from pconv.data.image_files import find_images, read_with_fallback, readable_images, warn_skipped
from pconv.data.image_io import load_image, probe_image


def test_find_images_order_and_filters(messy):
    names = [p.relative_to(messy).as_posix() for p in find_images(messy)]
    assert names == sorted(names)
    assert "UPPER.JPG" in names and "sub/nested/deep.png" in names
    assert not any(n.startswith(".") or "/." in n or n.endswith(".txt") for n in names)


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
