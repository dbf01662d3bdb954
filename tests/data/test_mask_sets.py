"""Tests for pconv.data.mask_sets: the binned test-mask set written, shared, read back and checked,
built privately and published whole (concurrent builders, full disks), paths resolved once."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pconv.data import (
    PAPER_HOLE_BINS,
    MaskSetError,
    bin_of,
    fixed_test_masks,
    hole_ratio,
    load_test_masks,
    make_test_masks,
    mask_sets,
)
from pconv.data.mask_sets import TEST_MASKS_VERSION
from pconv.utils import WriteFailedError


def test_test_set_round_trip_and_errors(tmp_path):
    out = make_test_masks(tmp_path / "tm", size=(24, 32), per_bin=2, seed=4)
    assert out == tmp_path / "tm"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["size"] == [24, 32] and len(manifest["masks"]) == 12 and manifest["seed"] == 4
    items = load_test_masks(out)
    assert [b for _, b in items] == [b for b in PAPER_HOLE_BINS for _ in range(2)]
    for (m, (lo, hi)), e in zip(items, manifest["masks"]):
        assert m.shape == (1, 24, 32) and lo <= hole_ratio(m) <= hi and hole_ratio(m) == e["hole_ratio"]
    with Image.open(out / manifest["masks"][0]["file"]) as im:  # white = valid, 8-bit
        assert im.mode == "L" and np.asarray(im).max() == 255
    again = make_test_masks(tmp_path / "tm2", size=(24, 32), per_bin=2, seed=4)
    assert all(torch.equal(a, b) for (a, _), (b, _) in zip(items, load_test_masks(again / "manifest.json")))

    first = out / manifest["masks"][0]["file"]
    Image.new("L", (32, 24), 255).save(first)  # tampered: no holes
    with pytest.raises(ValueError, match=first.name):
        load_test_masks(out)
    first.unlink()
    with pytest.raises(FileNotFoundError, match=first.name):
        load_test_masks(out)
    with pytest.raises(FileNotFoundError, match="make_test_masks"):
        load_test_masks(tmp_path / "nowhere")


def test_fixed_test_masks_is_written_once_and_shared(tmp_path, monkeypatch):
    monkeypatch.setenv("PCONV_DATA_DIR", str(tmp_path))
    folder = fixed_test_masks(32, per_bin=1, seed=3)
    assert folder == tmp_path / "test_masks" / "32px_1_seed3"
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    assert fixed_test_masks(32, per_bin=1, seed=3) == folder
    assert (folder / "manifest.json").stat().st_mtime_ns == stamp  # not rewritten
    assert len(load_test_masks(folder)) == len(PAPER_HOLE_BINS)
    assert fixed_test_masks((32, 48), per_bin=1).name == "32x48px_1_seed0"


def test_every_test_mask_is_binned_back_into_its_own_bin(tmp_path, monkeypatch):
    """A shared bin edge belongs to the lower bin, so the generator must never draw it for the upper one."""
    ranges = []
    draw = mask_sets.irregular_mask

    def spy(h, w, hole_range, *args, **kwargs):
        ranges.append(tuple(hole_range))
        return draw(h, w, hole_range, *args, **kwargs)

    monkeypatch.setattr(mask_sets, "irregular_mask", spy)  # where make_test_masks looks it up
    out = make_test_masks(tmp_path / "tm", size=16, per_bin=2, seed=0)
    assert ranges[0] == (0.01, 0.1)  # no bin ends at 0.01: its lower edge is drawn
    for (lo, _), (b_lo, _) in zip(ranges[2:], [b for b in PAPER_HOLE_BINS[1:] for _ in range(2)]):
        assert b_lo < lo < b_lo + 1e-12  # 0.5 = 128 / 256 holes is reachable at 16x16: excluded from 50-60%
    for mask, hole_bin in load_test_masks(out):
        assert bin_of(hole_ratio(mask), PAPER_HOLE_BINS) == hole_bin


def test_fixed_test_masks_rebuilds_a_set_of_an_older_version(tmp_path, monkeypatch):
    monkeypatch.setenv("PCONV_DATA_DIR", str(tmp_path))
    folder = fixed_test_masks(16, per_bin=1)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "version": 1}))
    fixed_test_masks(16, per_bin=1)
    assert json.loads((folder / "manifest.json").read_text())["version"] == TEST_MASKS_VERSION


# --- nothing lost (issue 23) ----------------------------------------------------------------------


def _build_shared(args):
    """One of several processes that find no shared set and build it at once (as `evaluate` runs do)."""
    data_dir, size = args
    os.environ["PCONV_DATA_DIR"] = data_dir
    from pconv.data import fixed_test_masks, load_test_masks

    folder = fixed_test_masks(size, per_bin=3)
    return str(folder), len(load_test_masks(folder))


def test_concurrent_builders_of_the_shared_set_never_see_a_partial_one(tmp_path):
    ctx = multiprocessing.get_context("forkserver")  # torch is imported once, by the server, not per process
    ctx.set_forkserver_preload(["pconv.data.mask_sets"])
    with ctx.Pool(4) as pool:
        got = pool.map(_build_shared, [(str(tmp_path), 16)] * 4)
    assert len({folder for folder, _ in got}) == 1 and all(n == 18 for _, n in got)
    parent = Path(got[0][0]).parent
    assert [p.name for p in parent.iterdir()] == ["16px_3_seed0"]  # no hidden partial folders left


def test_threads_racing_one_folder_publish_one_complete_set(tmp_path):
    def build(_):
        try:
            return make_test_masks(tmp_path / "set", size=12, per_bin=4)
        except FileExistsError as e:
            return e

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(build, range(4)))
    assert sum(isinstance(r, Path) for r in results) == 1  # one winner; the others are told, not overwritten
    assert all("overwrite=True (--force)" in str(r) for r in results if not isinstance(r, Path))
    assert len(load_test_masks(tmp_path / "set")) == 24 and [p.name for p in tmp_path.iterdir()] == ["set"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "{garbage",
        '{"size": [8, 8], "masks": [',
        "[]",
        '{"size": "big", "masks": []}',
        '{"size": [8, 8]}',
        '{"size": [8, 8], "masks": [{"file": 3, "bin": [0, 1], "hole_ratio": 0.1}]}',
        "\x00\xff\xfe",
    ],
)
def test_a_garbage_manifest_is_a_clear_error(tmp_path, monkeypatch, text):
    folder = make_test_masks(tmp_path / "set", size=8, per_bin=1)
    (folder / "manifest.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(MaskSetError, match=rf"{folder / 'manifest.json'} is not .*delete the folder .*--force"):
        load_test_masks(folder)
    monkeypatch.setenv("PCONV_DATA_DIR", str(tmp_path / "data"))  # the shared set says the same
    shared = fixed_test_masks(8, per_bin=1)
    (shared / "manifest.json").write_bytes(text.encode("latin-1"))
    with pytest.raises(MaskSetError, match="is not"):
        fixed_test_masks(8, per_bin=1)


def test_an_existing_set_is_refused_unless_overwrite(tmp_path):
    folder = make_test_masks(tmp_path / "set", size=8, per_bin=2, seed=1)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    with pytest.raises(FileExistsError, match=r"already holds a test-mask set; pass overwrite=True \(--force\)"):
        make_test_masks(folder, size=8, per_bin=3)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before  # untouched
    (tmp_path / "loose").mkdir()
    Image.new("L", (8, 8), 255).save(tmp_path / "loose" / "0000.png")  # mask PNGs without a manifest count too
    with pytest.raises(FileExistsError, match="overwrite=True"):
        make_test_masks(tmp_path / "loose", size=8, per_bin=1)
    assert make_test_masks(folder, size=8, per_bin=3, overwrite=True) == folder
    assert len(load_test_masks(folder)) == 18 and sorted(p.name for p in tmp_path.iterdir()) == ["loose", "set"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="notes.txt.*new or empty folder"):
        make_test_masks(tmp_path / "mine", size=8, per_bin=1, overwrite=True)  # never deletes other files
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    (tmp_path / "empty").mkdir()
    assert len(load_test_masks(make_test_masks(tmp_path / "empty", size=8, per_bin=1))) == 6


@pytest.mark.parametrize("size", [1, 2, 3, (1, 9), (2, 4)])
def test_a_size_too_small_for_every_bin_is_refused_before_writing(tmp_path, size):
    with pytest.raises(ValueError, match="too small for a test mask in every hole-ratio bin.*at least 4"):
        make_test_masks(tmp_path / "set", size=size, per_bin=1)
    assert list(tmp_path.iterdir()) == []  # no empty bin folders left behind
    assert len(load_test_masks(make_test_masks(tmp_path / "ok", size=4, per_bin=2))) == 12  # the minimum works


@pytest.mark.parametrize("bad", [dict(size=60000), dict(per_bin=0), dict(per_bin=2.5), dict(seed=-1)])
def test_sizes_and_counts_are_checked_before_any_allocation(tmp_path, bad):
    with pytest.raises(ValueError):
        make_test_masks(tmp_path / "set", **{"size": 8, "per_bin": 1, **bad})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fail_at", [1, 7, "manifest"])
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_a_full_disk_leaves_the_previous_set_and_nothing_half_written(tmp_path, monkeypatch, fail_at, code):
    folder = make_test_masks(tmp_path / "set", size=8, per_bin=2)
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    saves, save, write_text = [], Image.Image.save, Path.write_text

    def full(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    def save_png(*args, **kwargs):
        saves.append(1)
        return full() if len(saves) == fail_at else save(*args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save_png)
    if fail_at == "manifest":
        monkeypatch.setattr(
            Path, "write_text", lambda p, *a, **k: full() if p.name == "manifest.json" else write_text(p, *a, **k)
        )
    with pytest.raises(WriteFailedError, match=rf"could not write test-mask set {folder}: .*; "):
        make_test_masks(folder, size=8, per_bin=3, overwrite=True)
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["set"]  # no hidden partial folder


@pytest.mark.parametrize(
    "given, expected", [("set", "set"), ("./set", "set"), ("a/../set", "set"), ("~/set", "home/set"), ("mä/s", "mä/s")]
)
def test_mask_set_paths_are_resolved_once(tmp_path, monkeypatch, given, expected):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    folder = make_test_masks(given, size=8, per_bin=1)
    assert folder.is_absolute() and folder.resolve() == tmp_path / expected
    assert len(load_test_masks(given)) == 6 and not (tmp_path / "~").exists()
