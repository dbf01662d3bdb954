"""Tests for pconv.data.image_folder: the photo-folder dataset over a deliberately messy folder
(`messy`, tests/data/conftest.py), the file-level split that checks files first, empty folders,
oversized headers, and every data module's dataset pickled into a spawned process."""

from __future__ import annotations

import ast
import multiprocessing
import operator
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from crafted import png_claiming
from PIL import Image
from torch.utils.data import DataLoader

import pconv.data
import pconv.data.image_folder
from pconv.data import (
    InpaintingDataset,
    MaskFolder,
    MaskGenerator,
    SampleImageDataset,
    SyntheticShapesDataset,
    find_images,
    make_test_masks,
)
from pconv.data.image_folder import ImageFolderDataset, split_files

SIZE = 32
BAD = {"empty.jpg", "truncated.jpg", "notimage.jpg"}


def _noise(h, w, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


# --- folders and splits ----------------------------------------------------------------------------
def test_folder_dataset_skips_bad_files_with_one_warning(messy):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = ImageFolderDataset(messy, size=SIZE, train=True, seed=0)
        items = [ds[i] for i in range(len(ds))]
    assert len(caught) == 1, [str(w.message) for w in caught]
    assert all(name in str(caught[0].message) for name in BAD)
    assert {p.name for p, _ in ds.skipped} == BAD and all(reason for _, reason in ds.skipped)
    assert len(ds) == 11 and "tiny.png" in {p.name for p in ds.files}
    for x in items:
        assert x.shape == (3, SIZE, SIZE) and x.dtype == torch.float32
        assert 0 <= x.min() and x.max() <= 1


def test_folder_dataset_replaces_files_that_fail_late(messy):
    """With check=False bad files are found in __getitem__: replaced, recorded, warned about."""
    ds = ImageFolderDataset(messy, size=SIZE, train=False, check=False)
    assert len(ds) == 14 and not ds.skipped
    with pytest.warns(UserWarning, match="skipping unreadable"):
        items = [ds[i] for i in range(len(ds))]
    assert all(x.shape == (3, SIZE, SIZE) for x in items)
    assert {p.name for p, _ in ds.skipped} == BAD
    names = [p.name for p in ds.files]
    bad, after = names.index("empty.jpg"), names.index("exif.jpg")
    assert after == bad + 1 and torch.equal(ds[bad], ds[after])  # served by the next readable file


def test_folder_dataset_dataloader_with_workers(messy):
    ds = ImageFolderDataset(messy, size=SIZE, train=True, check=False)  # bad files hit inside the workers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batches = list(DataLoader(ds, batch_size=4, num_workers=2))
    assert sum(len(b) for b in batches) == len(ds)
    assert all(b.shape[1:] == (3, SIZE, SIZE) for b in batches)


def test_folder_dataset_determinism(messy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = ImageFolderDataset(messy, size=SIZE, train=True, seed=3)
        b = ImageFolderDataset(messy, size=SIZE, train=True, seed=3)
        ev = ImageFolderDataset(messy, size=SIZE, train=False)
    assert all(torch.equal(a[i], b[i]) for i in range(len(a)))
    assert torch.equal(ev[0], ev[0])
    b.set_epoch(1)
    assert any(not torch.equal(a[i], b[i]) for i in range(len(a)))


def test_folder_dataset_flips_half_the_time(tmp_path):
    im = Image.new("RGB", (16, 16), (255, 0, 0))
    im.paste((0, 0, 255), (8, 0, 16, 16))
    im.save(tmp_path / "halves.png")
    ds = ImageFolderDataset(tmp_path, size=16, seed=0)
    left_red = []
    for epoch in range(20):
        ds.set_epoch(epoch)
        left_red.append(bool(ds[0][0, :, :4].mean() > 0.9))
    assert 3 < sum(left_red) < 17


def test_folder_dataset_upscales_tiny_images(messy):
    x = ImageFolderDataset(messy, size=64, train=False, files=["tiny.png"])[0]
    assert x.shape == (3, 64, 64)
    src = torch.from_numpy(np.array(Image.open(messy / "tiny.png"))).permute(2, 0, 1).float() / 255
    assert torch.allclose(x.mean(), src.mean(), atol=0.05)


def test_folder_dataset_errors(tmp_path, messy):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ImageFolderDataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(ValueError, match="no images"):
        ImageFolderDataset(tmp_path / "empty")
    with pytest.raises(ValueError, match="none of the 3"), pytest.warns(UserWarning):
        ImageFolderDataset(messy, files=sorted(BAD))
    with pytest.raises(ValueError, match="size"):
        ImageFolderDataset(messy, size=0)


def test_split_files_deterministic_and_disjoint():
    files = [f"img_{i:03d}.jpg" for i in range(50)]
    train, val = split_files(files, val_fraction=0.2, seed=1)
    assert (train, val) == split_files(list(reversed(files)), val_fraction=0.2, seed=1)
    assert len(val) == 10 and not set(train) & set(val) and {str(p) for p in train + val} == set(files)
    assert split_files(files, 0.2, seed=2)[1] != val
    assert len(split_files(files[:3], 0.01)[1]) == 1  # a non-zero fraction always gets one file
    with pytest.raises(ValueError, match="val_fraction"):
        split_files(files, 1.0)


def test_folder_dataset_split(messy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, val = ImageFolderDataset.split(messy, size=SIZE, val_fraction=0.3, seed=0)
    assert train.train and not val.train
    assert not set(train.files) & set(val.files) and len(train) + len(val) == 11


def _bad_alone_in_val(files, bad, val_fraction):
    """A seed for which a plain split of `files` puts only `bad` in val (the case that used to abort runs)."""
    return next(s for s in range(1000) if split_files(files, val_fraction, s)[1] == [bad])


def test_split_checks_files_before_splitting(tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        _noise(20, 20).save(tmp_path / name)
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated JPEG")
    seed = _bad_alone_in_val(find_images(tmp_path), tmp_path / "bad.jpg", 0.25)
    with pytest.warns(UserWarning, match=r"skipping 1 unreadable file\(s\):\n.*bad\.jpg") as caught:
        train, val = ImageFolderDataset.split(tmp_path, size=SIZE, val_fraction=0.25, seed=seed)
    assert len(caught) == 1 and caught[0].filename == __file__  # reported once, not once per side, at this line
    assert len(val) == 1 and len(train) == 2 and not set(train.files) & set(val.files)
    assert train.skipped == val.skipped == [(tmp_path / "bad.jpg", train.skipped[0][1])]
    assert val[0].shape == (3, SIZE, SIZE) and train.train and not val.train
    assert (train.files, val.files) == split_files([tmp_path / n for n in ("a.png", "b.png", "c.png")], 0.25, seed)


def test_split_seeds_the_training_side_only(messy):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train, val = ImageFolderDataset.split(messy, size=SIZE, augment_seed=5)
        again, _ = ImageFolderDataset.split(messy, size=SIZE, augment_seed=5)
    assert train.seed == 5 and val.seed is None and torch.equal(train[0], again[0])


def test_split_errors(tmp_path):
    (tmp_path / "one").mkdir()
    _noise(20, 20).save(tmp_path / "one" / "a.png")
    (tmp_path / "one" / "b.png").write_bytes(b"")
    one_readable = pytest.raises(ValueError, match="only 1 readable image.*at least two")
    with one_readable, pytest.warns(UserWarning, match="b.png"):
        ImageFolderDataset.split(tmp_path / "one")
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ValueError, match=r"val_fraction must be in \(0, 1\).*ImageFolderDataset\(root\)"):
            ImageFolderDataset.split(tmp_path / "one", val_fraction=bad)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ImageFolderDataset.split(tmp_path / "nowhere")


@pytest.mark.parametrize("build", [ImageFolderDataset, ImageFolderDataset.split])
def test_empty_folders_say_so(tmp_path, build):
    (tmp_path / "empty" / ".git").mkdir(parents=True)
    (tmp_path / "empty" / ".DS_Store").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"the folder .*empty is empty"):
        build(tmp_path / "empty")
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    (tmp_path / "docs" / "labels.csv").write_text("a,b")
    (tmp_path / "docs" / "sub" / "photo.heic").write_bytes(b"x")
    with pytest.raises(ValueError, match=r"holds 2 file\(s\) but none with an image extension .*: labels\.csv, sub/"):
        build(tmp_path / "docs")


def test_folder_skips_images_whose_header_claims_absurd_sizes(tmp_path):
    _noise(20, 20).save(tmp_path / "a.png")
    png_claiming(tmp_path / "bomb.png", 20_000, 20_000)
    png_claiming(tmp_path / "big.png", 10_000, 10_000)  # below PIL's error threshold: it only warns
    with pytest.warns(UserWarning, match="skipping 2 unreadable") as caught:
        ds = ImageFolderDataset(tmp_path, size=SIZE)
    assert caught[0].filename == __file__
    assert [p.name for p in ds.files] == ["a.png"]
    reasons = dict((p.name, why) for p, why in ds.skipped)
    assert "decompression bomb" in reasons["bomb.png"] and "10000 x 10000" in reasons["big.png"]
    assert all(issubclass(w.category, UserWarning) and "DecompressionBomb" not in w.category.__name__ for w in caught)


def _datasets(messy, masks_dir):
    """One of every dataset in pconv's data modules, deterministic items."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        folder = ImageFolderDataset(messy, size=SIZE, train=False)
        train_folder = ImageFolderDataset(messy, size=SIZE, seed=1)
    return {
        "ImageFolderDataset": folder,
        "ImageFolderDataset-train": train_folder,
        "InpaintingDataset": InpaintingDataset(train_folder, MaskGenerator(SIZE, length=4), pairing="random", seed=2),
        "SampleImageDataset": SampleImageDataset(SIZE, length=4, seed=3),
        "SyntheticShapesDataset": SyntheticShapesDataset(SIZE, length=4, seed=4),
        "MaskGenerator": MaskGenerator(SIZE, length=4, seed=5),
        "MaskFolder": MaskFolder(masks_dir, SIZE, invert=False, seed=6),
    }


def test_every_dataset_pickles_and_serves_the_same_items_in_a_spawned_process(messy, tmp_path):
    """DataLoader workers started by spawn or forkserver get the datasets by pickle, in a fresh interpreter."""
    make_test_masks(tmp_path / "masks", size=SIZE, per_bin=1)
    datasets = _datasets(messy, tmp_path / "masks")
    for name, ds in datasets.items():
        again = pickle.loads(pickle.dumps(ds))
        assert type(again) is type(ds) and len(again) == len(ds), name
        _assert_same(again[3], ds[3], name)
    with multiprocessing.get_context("spawn").Pool(1) as pool:  # nothing inherited: imports and state rebuilt
        remote = pool.starmap(operator.getitem, [(ds, 3) for ds in datasets.values()])
    for (name, ds), item in zip(datasets.items(), remote):
        _assert_same(item, ds[3], name)


def _assert_same(a, b, name):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), name
        for k in a:
            _assert_same(a[k], b[k], name)
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), name
    else:
        assert a == b, name


def test_the_room_exports_the_defining_modules_objects():
    """One import path per object: `pconv.data`'s names are plain imports of the modules that define them."""
    for name in pconv.data.__all__:
        obj = getattr(pconv.data, name)
        home = getattr(obj, "__module__", None)
        assert home is None or home.startswith("pconv.data."), (name, home)
    assert pconv.data.ImageFolderDataset is ImageFolderDataset and not hasattr(pconv.data, "__getattr__")
    assert set(pconv.data.image_folder.__all__) == {"ImageFolderDataset", "split_files"}  # no re-exports kept here


def test_data_modules_never_import_the_room_s_face():
    """Inside the room, modules import each other by module path, never `from pconv.data import NAME`:
    `pconv/data/__init__.py` imports them all, so that would be an import cycle."""
    room = Path(pconv.data.__file__).parent
    for path in sorted(room.rglob("*.py")):
        if path.name == "__init__.py" and path.parent == room:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "pconv.data":
                for alias in node.names:  # `from pconv.data import mask_drawing` names a module: fine
                    assert (room / f"{alias.name}.py").is_file(), f"{path}: from pconv.data import {alias.name}"


# --- nothing lost (issue 23) ----------------------------------------------------------------------


def _photos(folder: Path, n: int = 8, corrupt: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        _noise(24, 24, seed=i).save(folder / f"x{i}.png")
    for i in range(corrupt):  # header and IEND intact, pixel data zeroed: only decoding shows it
        blob = bytearray((folder / "x0.png").read_bytes())
        blob[60:300] = bytes(240)
        (folder / f"bad{i}.png").write_bytes(bytes(blob))
    return folder


ROOTS = ["imgs", "./imgs", "a/../imgs", "~/imgs", "ïmgs→"]


@pytest.mark.parametrize("given", ROOTS)
def test_every_dataset_resolves_its_root_once(tmp_path, monkeypatch, given):
    """A relative root used to be joined twice by `split` (imgs/imgs/x.png); `~` and unicode too."""
    from test_seg_datasets import make_carvana

    home = tmp_path / "home"
    base = home if given.startswith("~") else tmp_path
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()

    def where(g: str) -> Path:
        return base / g.removeprefix("~/").replace("a/../", "").removeprefix("./")

    folder = _photos(where(given))
    train, val = ImageFolderDataset.split(given, 16)
    whole = ImageFolderDataset(given, 16)
    for ds in (train, val, whole):
        assert ds.root == folder.absolute() or ds.root.resolve() == folder.resolve()
        assert ds.root.is_absolute() and all(f.is_absolute() and f.is_file() for f in ds.files)
    assert sorted(train.files + val.files) == whole.files and len(whole) == 8
    masks = MaskFolder(given, 16, invert=False)
    assert masks.root.is_absolute() and len(masks) == 8
    monkeypatch.chdir(home.parent.parent)  # the paths stay valid wherever the process goes next
    assert all(ds[0].shape == (3, 16, 16) for ds in (train, val, whole)) and masks[0].shape == (1, 16, 16)

    monkeypatch.chdir(tmp_path)
    make_carvana(where(given.replace("imgs", "cars")))
    cars = pconv.data.CarvanaDataset(given.replace("imgs", "cars"), size=(16, 24), split="all")
    assert cars.root.is_absolute() and cars.image_dir.is_absolute() and len(cars) > 0


def test_an_empty_root_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(_photos(tmp_path / "imgs"))  # "" must not silently mean the current folder
    for call in (lambda: ImageFolderDataset(""), lambda: ImageFolderDataset.split("")):
        with pytest.raises(ValueError, match="root is empty"):
            call()


@pytest.mark.parametrize("seed", range(12))
def test_one_corrupt_image_in_a_small_folder_is_skipped_on_either_side(tmp_path, seed):
    folder = _photos(tmp_path / "imgs", n=8, corrupt=1)
    with pytest.warns(UserWarning, match=r"skipping 1 unreadable file\(s\):\n  .*bad0.png: decoding failed") as rec:
        train, val = ImageFolderDataset.split(folder, 16, seed=seed)
    assert len(rec) == 1  # reported once, up front
    assert folder / "bad0.png" not in train.files + val.files and len(train) + len(val) == 8
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second report while iterating
        assert all(x.shape == (3, 16, 16) for ds in (train, val) for x in ds)
    assert [p.name for p, _ in train.skipped] == [p.name for p, _ in val.skipped] == ["bad0.png"]


def test_corrupt_images_that_would_fill_the_val_side_of_a_large_folder_are_replaced(tmp_path, monkeypatch):
    import pconv.data.image_folder as data_module

    monkeypatch.setattr(data_module, "_DECODE_LIMIT", 3)  # a "large" folder: only the val side is decoded
    folder = _photos(tmp_path / "imgs", n=6, corrupt=3)
    for seed in range(6):
        with pytest.warns(UserWarning):
            train, val = ImageFolderDataset.split(folder, 16, val_fraction=0.3, seed=seed)
        assert not any(f.name.startswith("bad") for f in val.files)
        assert all(x.shape == (3, 16, 16) for x in val)


def test_all_but_one_image_corrupt_is_a_clear_error(tmp_path):
    folder = _photos(tmp_path / "imgs", n=1, corrupt=3)
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"only 1 readable image\(s\) of 4 .*bad0.png"):
        ImageFolderDataset.split(folder, 16)


def test_train_on_a_relative_folder_with_a_corrupt_image_runs(tmp_path, monkeypatch):
    """The command users type most: `python -m pconv train --data imgs` (relative), one bad file in it."""
    from pconv.cli import main

    monkeypatch.setenv("PCONV_SMOKE", "1")
    monkeypatch.chdir(tmp_path)
    _photos(tmp_path / "imgs", n=8, corrupt=1)
    args = ["--steps", "2", "--size", "32", "--layers", "3", "--base-channels", "8", "--vgg", "none"]
    for seed in ("0", "4"):  # the bad file lands in train with one seed and alone in val with the other
        out = f"run{seed}"
        with pytest.warns(UserWarning, match="bad0.png"):
            code = main(["train", "--data", "imgs", "--out", out, "--seed", seed, "--device", "cpu", *args])
        assert code == 0 and any((tmp_path / out).glob("*.pt"))
