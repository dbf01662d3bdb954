"""Tests for pconv.data.masks: hole-ratio guarantees, determinism, workers, mask folders, the test set."""

from __future__ import annotations

import errno
import json
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from pconv.data import (
    PAPER_HOLE_BINS,
    MaskGenerator,
    hole_ratio,
    irregular_mask,
    load_test_masks,
    make_test_masks,
    masks,
)
from pconv.data.loaders import WORKER_START  # how the trainer starts its workers: never fork

FAMILIES = ("freeform", "thin", "medium", "thick")


def _ratio(m: np.ndarray) -> float:
    return float(np.count_nonzero(m == 0)) / m.size  # the definition, written plainly


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("bin_", PAPER_HOLE_BINS)
def test_ratio_inside_every_paper_bin(bin_, family):
    for seed in range(12):
        m = irregular_mask(64, 64, bin_, seed, family=family, boxes=family != "thin")
        assert m.dtype == np.float32 and m.shape == (64, 64)
        assert set(np.unique(m)) <= {0.0, 1.0}
        assert bin_[0] <= _ratio(m) <= bin_[1] and hole_ratio(m) == _ratio(m)


@pytest.mark.parametrize("hw", [(48, 112), (130, 40), (7, 9), (1, 50)])
def test_ratio_inside_range_for_odd_and_non_square_sizes(hw):
    for seed, bin_ in enumerate(PAPER_HOLE_BINS * 3):
        m = irregular_mask(*hw, bin_, seed, family="mixed")
        assert m.shape == hw and bin_[0] <= _ratio(m) <= bin_[1]


def test_default_size_ratio_and_spread_over_the_range():
    ratios = [hole_ratio(irregular_mask(256, 256, rng=s)) for s in range(40)]
    assert all(0.01 <= r <= 0.6 for r in ratios)
    assert np.std(ratios) > 0.1  # the target is uniform over the range, not piled up at lo


def test_narrow_and_degenerate_ranges():
    for seed in range(5):
        assert _ratio(irregular_mask(50, 50, (0.3, 0.3), seed)) == 0.3  # 750 pixels exactly
        assert _ratio(irregular_mask(32, 32, (0.0, 0.0), seed)) == 0.0
        assert _ratio(irregular_mask(16, 16, (1.0, 1.0), seed)) == 1.0
        r = _ratio(irregular_mask(64, 64, (0.41, 0.415), seed, family="thick", boxes=True))
        assert 0.41 <= r <= 0.415


def test_exact_fallback_when_strokes_run_out(monkeypatch):
    monkeypatch.setattr(masks, "_MAX_ELEMENTS", 0)  # no strokes at all: only the rim growth
    for seed, bin_ in enumerate(PAPER_HOLE_BINS):
        assert bin_[0] <= _ratio(irregular_mask(40, 30, bin_, seed)) <= bin_[1]
    monkeypatch.setattr(masks, "_MAX_ELEMENTS", 2)
    assert 0.5 <= _ratio(irregular_mask(64, 64, (0.5, 0.6), 0, family="thin")) <= 0.6


def test_determinism_and_rng_kinds():
    a = irregular_mask(96, 80, (0.1, 0.4), 7, family="medium", boxes=True)
    assert np.array_equal(a, irregular_mask(96, 80, (0.1, 0.4), 7, family="medium", boxes=True))
    assert np.array_equal(irregular_mask(64, 64, rng=np.random.default_rng(3)), irregular_mask(64, 64, rng=3))
    gen = np.random.default_rng(5)
    assert not np.array_equal(irregular_mask(64, 64, rng=gen), irregular_mask(64, 64, rng=gen))  # stream advances
    assert irregular_mask(32, 32).shape == (32, 32)  # rng=None: fresh randomness


def test_different_seeds_differ():
    ms = [irregular_mask(64, 64, (0.2, 0.3), s) for s in range(10)]
    assert len({m.tobytes() for m in ms}) == 10


@pytest.mark.parametrize("bad", [(0.5, 0.2), (-0.1, 0.2), (0.2, 1.5), (float("nan"), 0.5), (0.1,), "ab", None])
def test_impossible_range_raises(bad):
    with pytest.raises(ValueError, match="hole_range"):
        irregular_mask(32, 32, bad)


def test_unreachable_range_on_a_tiny_mask_raises_instead_of_looping():
    with pytest.raises(ValueError, match=r"no achievable ratio for a 4x4 mask"):
        irregular_mask(4, 4, (0.3, 0.31))  # 16 pixels: 4/16 = 0.25, 5/16 = 0.3125
    with pytest.raises(ValueError, match="family"):
        irregular_mask(32, 32, family="dotted")
    with pytest.raises(ValueError, match="height, width"):
        irregular_mask(0, 32)


def _mean_half_width(size: int, seeds: range) -> float:
    """Area / boundary length of the holes: half the stroke width for long strokes."""
    area = boundary = 0
    for s in seeds:
        hole = irregular_mask(size, size, (0.05, 0.15), s, family="medium") == 0
        edge = hole & ~(np.roll(hole, 1, 0) & np.roll(hole, -1, 0) & np.roll(hole, 1, 1) & np.roll(hole, -1, 1))
        area, boundary = area + hole.sum(), boundary + edge.sum()
    return area / boundary


def test_stroke_width_scales_with_image_size():
    ratio = _mean_half_width(512, range(6)) / _mean_half_width(256, range(6))
    assert 1.6 < ratio < 2.4


def test_hole_ratio_shapes():
    m = np.ones((4, 5), np.float32)
    m[0, :2] = 0
    assert hole_ratio(m) == pytest.approx(0.1) and isinstance(hole_ratio(m), float)
    assert hole_ratio(torch.from_numpy(m)[None]) == pytest.approx(0.1)
    batch = torch.stack([torch.from_numpy(m)[None], torch.zeros(1, 4, 5)])  # (2, 1, 4, 5)
    r = hole_ratio(batch)
    assert r.shape == (2,) and torch.allclose(r, torch.tensor([0.1, 1.0], dtype=r.dtype))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        hole_ratio(np.ones((3, 4, 5)))


def test_mask_generator_dataset():
    ds = MaskGenerator((48, 64), (0.1, 0.3), length=5, seed=1, family="thin")
    m = ds[2]
    assert len(ds) == 5 and m.shape == (1, 48, 64) and m.dtype == torch.float32
    assert torch.equal(m, ds[2]) and torch.equal(ds[-1], ds[4]) and 0.1 <= hole_ratio(m) <= 0.3
    assert not torch.equal(m, MaskGenerator((48, 64), (0.1, 0.3), length=5, seed=2, family="thin")[2])
    ds.set_epoch(1)
    assert not torch.equal(m, ds[2])
    with pytest.raises(IndexError):
        ds[5]
    with pytest.raises(ValueError, match="hole_range"):
        MaskGenerator(32, (0.6, 0.1))
    with pytest.raises(ValueError, match="size"):
        MaskGenerator(-3)
    with pytest.raises(ValueError, match="4x4"):
        MaskGenerator(4, (0.3, 0.31))  # caught at construction, not inside a worker
    with pytest.raises(ValueError, match="epoch"):
        ds.set_epoch(-1)


def test_distinct_masks_across_dataloader_workers():
    ds = MaskGenerator(32, length=8, seed=0)
    loader = DataLoader(
        ds, batch_size=2, num_workers=2, multiprocessing_context=WORKER_START
    )  # worker 0: 0, 2; 1: 1, 3
    batches = list(loader)
    got = torch.cat(batches)  # (8, 1, 32, 32)
    assert len({m.numpy().tobytes() for m in got}) == 8  # no two workers repeat a stream
    assert torch.equal(got, torch.stack([ds[i] for i in range(8)]))  # and each index is reproducible


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
    from pconv.data import fixed_test_masks

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
    from pconv.data import bin_of

    ranges = []
    draw = masks.irregular_mask

    def spy(h, w, hole_range, *args, **kwargs):
        ranges.append(tuple(hole_range))
        return draw(h, w, hole_range, *args, **kwargs)

    monkeypatch.setattr(masks, "irregular_mask", spy)
    out = make_test_masks(tmp_path / "tm", size=16, per_bin=2, seed=0)
    assert ranges[0] == (0.01, 0.1)  # no bin ends at 0.01: its lower edge is drawn
    for (lo, _), (b_lo, _) in zip(ranges[2:], [b for b in PAPER_HOLE_BINS[1:] for _ in range(2)]):
        assert b_lo < lo < b_lo + 1e-12  # 0.5 = 128 / 256 holes is reachable at 16x16: excluded from 50-60%
    for mask, hole_bin in load_test_masks(out):
        assert bin_of(hole_ratio(mask), PAPER_HOLE_BINS) == hole_bin


def test_fixed_test_masks_rebuilds_a_set_of_an_older_version(tmp_path, monkeypatch):
    from pconv.data.masks import TEST_MASKS_VERSION, fixed_test_masks

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
    ctx.set_forkserver_preload(["pconv.data.masks"])
    with ctx.Pool(4) as pool:
        got = pool.map(_build_shared, [(str(tmp_path), 16)] * 4)
    assert len({folder for folder, _ in got}) == 1 and all(n == 18 for _, n in got)
    parent = Path(got[0][0]).parent
    assert [p.name for p in parent.iterdir()] == ["16px_3_seed0"]  # no hidden partial folders left


def test_threads_racing_one_folder_publish_one_complete_set(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

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
    from pconv.data import MaskSetError, fixed_test_masks

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
    from pconv.utils import WriteFailedError

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
