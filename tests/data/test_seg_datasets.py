"""Tests for pconv/segdata.py: the Carvana reader on a fake Kaggle folder (pairing, layout,
car-level split, GIF palette masks, aligned augmentation) and the synthetic shapes set."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from pconv.data.loaders import WORKER_START  # how the trainer starts its workers: never fork
from pconv.data.seg_datasets import CarvanaDataset, SyntheticShapesDataset, load_object_mask

H, W = 32, 48
CARS = {"0a1b2c3d4e5f": 3, "1111aaaa2222": 2, "5e5e5e5e5e5e": 4, "abcdefabcdef": 2, "f00df00df00d": 3}


def _scene(view: int, seed: int) -> np.ndarray:
    """bool (H, W): an asymmetric 'car' (box plus a tab on its right) at a per-view place."""
    rng = np.random.default_rng(seed)
    y, x = int(rng.integers(4, 12)), int(rng.integers(4, 16))
    car = np.zeros((H, W), bool)
    car[y : y + 12, x : x + 18] = True
    car[y : y + 5, x + 18 : x + 26] = True  # makes a horizontal flip visible
    return car


def _save_gif(mask: np.ndarray, path, palette=(0, 0, 0, 255, 255, 255)):
    im = Image.fromarray(mask.astype(np.uint8), "P")  # palette indices {0, 1}
    im.putpalette(list(palette))
    im.save(path)


def make_carvana(root, cars=CARS, images="train", masks="train_masks"):
    """Kaggle's layout with tiny JPEGs (bright car on dark ground) and GIF palette masks."""
    (root / images).mkdir(parents=True)
    (root / masks).mkdir(parents=True)
    for c, (car, views) in enumerate(cars.items()):
        for v in range(1, views + 1):
            mask = _scene(v, seed=100 * c + v)
            rgb = np.where(mask[..., None], 230, 25).astype(np.uint8).repeat(3, axis=2)
            Image.fromarray(rgb).save(root / images / f"{car}_{v:02d}.jpg", quality=95)
            _save_gif(mask, root / masks / f"{car}_{v:02d}_mask.gif")
    for folder in (images, masks):
        (root / folder / ".DS_Store").write_bytes(b"\0junk")
        (root / folder / "notes.txt").write_text("not data")
    return root


@pytest.fixture()
def carvana(tmp_path):
    return make_carvana(tmp_path / "carvana")


def _agreement(item) -> float:
    """Fraction of pixels where the mask matches the bright car in the image."""
    return ((item["image"].mean(0) > 0.5) == (item["mask"][0] > 0.5)).float().mean().item()


def test_pairs_and_item_format(carvana):
    ds = CarvanaDataset(carvana, size=None, split="all")
    assert len(ds) == sum(CARS.values()) and ds.cars == sorted(CARS)
    item = ds[0]
    assert item["image"].shape == (3, H, W) and item["mask"].shape == (1, H, W)
    assert item["image"].dtype == item["mask"].dtype == torch.float32 and item["id"] == "0a1b2c3d4e5f_01"
    assert set(item["mask"].unique().tolist()) == {0.0, 1.0}
    assert all(_agreement(ds[i]) > 0.99 for i in range(len(ds)))  # every mask belongs to its image


def test_gif_palette_masks_read_as_binary(tmp_path):
    mask = _scene(1, 0)
    _save_gif(mask, tmp_path / "a_mask.gif")
    _save_gif(mask, tmp_path / "dim_mask.gif", palette=(0, 0, 0, 40, 0, 0))  # object = dark red: nonzero
    _save_gif(~mask, tmp_path / "swapped_mask.gif", palette=(255, 255, 255, 0, 0, 0))  # index 0 = white = car
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "b_mask.png")
    for name in ("a_mask.gif", "dim_mask.gif", "swapped_mask.gif", "b_mask.png"):
        assert np.array_equal(load_object_mask(tmp_path / name), mask), name


def test_resize_keeps_masks_binary(carvana):
    ds = CarvanaDataset(carvana, size=(16, 24), split="all", augment=False)
    for i in range(len(ds)):
        item = ds[i]
        assert item["image"].shape == (3, 16, 24) and item["mask"].shape == (1, 16, 24)
        assert set(item["mask"].unique().tolist()) <= {0.0, 1.0} and _agreement(item) > 0.9


def test_missing_and_orphan_masks_in_one_error(carvana):
    (carvana / "train_masks" / "1111aaaa2222_02_mask.gif").unlink()
    _save_gif(_scene(1, 0), carvana / "train_masks" / "deadbeef0000_01_mask.gif")
    with pytest.raises(ValueError) as info:
        CarvanaDataset(carvana)
    msg = str(info.value)
    assert "1 image(s) without a mask: 1111aaaa2222_02.jpg (expected 1111aaaa2222_02_mask.gif)" in msg
    assert "1 mask(s) without an image: deadbeef0000_01_mask.gif" in msg


def test_differently_named_masks_listed_with_count(carvana):
    for p in (carvana / "train_masks").glob("*_mask.gif"):
        p.rename(p.with_name(p.name.replace("_mask.gif", ".mask.gif")))
    with pytest.raises(ValueError, match=r"14 image\(s\) without a mask: .* and 9 more"):
        CarvanaDataset(carvana)


def test_png_masks_and_mask_named_like_image(carvana):
    gif = carvana / "train_masks" / "0a1b2c3d4e5f_01_mask.gif"
    Image.open(gif).convert("L").save(gif.with_name("0a1b2c3d4e5f_01_mask.png"))
    gif.unlink()
    gif = carvana / "train_masks" / "0a1b2c3d4e5f_02_mask.gif"
    gif.rename(gif.with_name("0a1b2c3d4e5f_02.gif"))
    ds = CarvanaDataset(carvana, size=None, split="all")
    assert len(ds) == sum(CARS.values()) and _agreement(ds[0]) > 0.99 and _agreement(ds[1]) > 0.99


@pytest.mark.parametrize("layout", ["nested_zip", "one_level_down"])
def test_nested_layouts(tmp_path, layout):
    if layout == "nested_zip":  # train.zip extracted into train/: root/train/train/*.jpg
        root = make_carvana(tmp_path / "c", images="train/train", masks="train_masks/train_masks")
    else:
        make_carvana(tmp_path / "c" / "carvana-image-masking-challenge")
        root = tmp_path / "c"
    assert len(CarvanaDataset(root, split="all")) == sum(CARS.values())


def test_layout_errors(tmp_path, carvana):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        CarvanaDataset(tmp_path / "nowhere")
    shutil.rmtree(carvana / "train_masks")
    with pytest.raises(FileNotFoundError, match="train_masks.*found train"):
        CarvanaDataset(carvana)


def test_bad_arguments_and_empty_files(carvana):
    with pytest.raises(ValueError, match="split"):
        CarvanaDataset(carvana, split="test")
    with pytest.raises(ValueError, match="empty"):
        CarvanaDataset(carvana, split="val", val_fraction=0.0)
    (carvana / "train" / "0a1b2c3d4e5f_01.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="0a1b2c3d4e5f_01.jpg"):
        CarvanaDataset(carvana)


def test_split_by_car_without_leakage(carvana):
    train = CarvanaDataset(carvana, split="train", val_fraction=0.4, seed=0)
    val = CarvanaDataset(carvana, split="val", val_fraction=0.4, seed=0)
    assert len(val.cars) == 2 and not set(train.cars) & set(val.cars)
    assert len(train) + len(val) == sum(CARS.values())
    assert {s[2].split("_")[0] for s in val.samples} == set(val.cars)
    assert val.cars == CarvanaDataset(carvana, split="val", val_fraction=0.4, seed=0).cars
    assert train.augment and not val.augment


def test_augmentation_keeps_image_and_mask_aligned(carvana):
    plain = CarvanaDataset(carvana, size=None, split="all", augment=False)
    aug = CarvanaDataset(carvana, size=None, split="all", augment=True)
    torch.manual_seed(0)
    flipped = 0
    for i in range(len(aug)):
        item, mask = aug[i], plain[i]["mask"]
        assert set(item["mask"].unique().tolist()) <= {0.0, 1.0}
        assert _agreement(item) > 0.97  # a flip or rotation applied to one side only would fail this
        flipped += (item["mask"] != mask.flip(-1)).sum() < (item["mask"] != mask).sum()
    assert 0 < flipped < len(aug)  # some views flipped, some not


def test_dataloader_and_pickle(carvana):
    ds = CarvanaDataset(carvana, size=(16, 24), split="train", val_fraction=0.2)
    loader = DataLoader(
        pickle.loads(pickle.dumps(ds)), batch_size=4, num_workers=2, multiprocessing_context=WORKER_START
    )
    batch = next(iter(loader))
    assert batch["image"].shape == (4, 3, 16, 24) and batch["mask"].shape == (4, 1, 16, 24)
    assert len(batch["id"]) == 4
    val = CarvanaDataset(carvana, size=(16, 24), split="val", val_fraction=0.2)
    again = pickle.loads(pickle.dumps(val))
    assert again.samples == val.samples and all(torch.equal(again[1][k], val[1][k]) for k in ("image", "mask"))


def test_synthetic_shapes_format_and_determinism():
    ds = SyntheticShapesDataset(size=(40, 56), length=12, split="train", seed=0)
    items = [ds[i] for i in range(len(ds))]
    for item in items:
        assert item["image"].shape == (3, 40, 56) and item["mask"].shape == (1, 40, 56)
        assert item["image"].dtype == item["mask"].dtype == torch.float32
        assert 0 <= item["image"].min() and item["image"].max() <= 1
        assert set(item["mask"].unique().tolist()) <= {0.0, 1.0}
    coverage = torch.stack([it["mask"].mean() for it in items])
    assert (coverage > 0.02).float().mean() > 0.8 and (coverage < 0.9).all()
    again = SyntheticShapesDataset(size=(40, 56), length=12, split="train", seed=0)
    assert all(torch.equal(again[i]["image"], items[i]["image"]) for i in range(12))
    val = SyntheticShapesDataset(size=(40, 56), length=12, split="val", seed=0)
    assert not torch.equal(val[0]["image"], items[0]["image"])
    assert SyntheticShapesDataset(size=32, length=1)[0]["image"].shape == (3, 32, 32)
    with pytest.raises(ValueError, match="split"):
        SyntheticShapesDataset(split="all")


def test_synthetic_mask_is_exact(monkeypatch):
    """Over a flat grey background, the changed pixels are exactly the mask."""

    def grey(name, h, w, rng, flip):
        return Image.new("RGB", (w, h), (128, 128, 128))

    monkeypatch.setattr("pconv.data.seg_datasets.sample_crop", grey)
    ds = SyntheticShapesDataset(size=(64, 96), length=8, seed=1)
    for i in range(len(ds)):
        item = ds[i]
        changed = (item["image"] != 128 / 255).any(0)
        assert torch.equal(changed, item["mask"][0].bool())
