"""Tests for pconv/samples.py: the offline scikit-image photos and the random-crop dataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from pconv.data import SampleImageDataset, sample_images, sample_inpainting_data, sample_photo
from pconv.data.loaders import WORKER_START  # how the trainer starts its workers: never fork


def test_sample_images_split_by_photo():
    train, val, everything = sample_images("train"), sample_images("val"), sample_images("all")
    assert len(train) >= 4 and len(val) == 2
    assert not {n for n, _ in train} & {n for n, _ in val}
    assert [n for n, _ in everything] == [n for n, _ in train + val]
    for name, photo in everything:
        assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3, name
        assert min(photo.shape[:2]) >= 256, name
    assert not any(v.shape == t.shape and np.array_equal(v, t) for _, v in val for _, t in train)


def test_sample_images_returns_copies():
    _, photo = sample_images("val")[0]
    photo[:] = 0
    assert sample_images("val")[0][1].any()


def test_sample_photo_is_one_of_sample_images_by_name():
    photo = sample_photo("chelsea")
    assert np.array_equal(photo, dict(sample_images("all"))["chelsea"])
    photo[:] = 0  # a copy: the cached photo is untouched
    assert sample_photo("chelsea").any()
    with pytest.raises(ValueError, match="no sample photo 'nope'; choose one of astronaut, coffee"):
        sample_photo("nope")


def test_sample_images_unknown_split():
    with pytest.raises(ValueError, match="split"):
        sample_images("test")
    with pytest.raises(ValueError, match="split"):
        SampleImageDataset(split="validation")


def test_sample_dataset_items_and_determinism():
    a, b = SampleImageDataset(48, length=20, seed=0), SampleImageDataset(48, length=20, seed=0)
    items = [a[i] for i in range(len(a))]
    for x in items:
        assert x.shape == (3, 48, 48) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert all(torch.equal(x, b[i]) for i, x in enumerate(items))
    assert not torch.equal(a[0], SampleImageDataset(48, length=20, seed=1)[0])
    assert len({x.sum().item() for x in items}) == len(items)  # every crop differs
    b.set_epoch(1)
    assert not torch.equal(a[0], b[0])
    with pytest.raises(IndexError):
        a[20]


def test_sample_dataset_val_is_fixed():
    val = SampleImageDataset(40, split="val", length=6, seed=0)
    first = [val[i] for i in range(6)]
    val.set_epoch(5)
    assert all(torch.equal(x, val[i]) for i, x in enumerate(first))


def test_sample_dataset_workers_distinct_and_reproducible():
    ds = SampleImageDataset(24, length=16, seed=0)
    serial = torch.cat(list(DataLoader(ds, batch_size=4, num_workers=0)))
    parallel = torch.cat(list(DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context=WORKER_START)))
    assert torch.equal(serial, parallel)  # independent of which worker serves an index
    flat = parallel.flatten(1)
    assert (torch.cdist(flat, flat) + torch.eye(16) * 1e3).min() > 0  # no two workers repeat a stream


def test_sample_dataset_unseeded_uses_torch_rng():
    ds = SampleImageDataset(24, length=4, seed=None)
    torch.manual_seed(0)
    a = ds[0]
    torch.manual_seed(0)
    assert torch.equal(a, ds[0]) and not torch.equal(a, ds[0])


def test_sample_dataset_large_size_upscales():
    assert SampleImageDataset(512, split="val", length=2)[1].shape == (3, 512, 512)


def test_sample_inpainting_data_pairs_crops_with_masks():
    train, val = sample_inpainting_data(32, (0.1, 0.3), train_length=6, val_length=3, seed=4)
    assert (len(train), len(val)) == (6, 3) and train.pairing == "cycle" and len(train.masks) == 6
    item = train[2]
    assert item["image"].shape == (3, 32, 32) and item["mask"].shape == (1, 32, 32)
    assert 0.1 <= 1 - item["mask"].mean().item() <= 0.3  # holes in the asked range
    again, _ = sample_inpainting_data(32, (0.1, 0.3), train_length=6, val_length=3, seed=4)
    assert torch.equal(again[2]["image"], item["image"]) and torch.equal(again[2]["mask"], item["mask"])
    train.set_epoch(1)  # new crops and masks every epoch, fixed validation pairs
    assert not torch.equal(train[2]["image"], item["image"])
    assert torch.equal(val[1]["mask"], sample_inpainting_data(32, (0.1, 0.3), val_length=3, seed=4)[1][1]["mask"])
    many, _ = sample_inpainting_data(32, train_length=4, masks=50, seed=0)
    assert many.pairing == "random" and len(many.masks) == 50


def test_sample_dataset_decodes_its_photos_when_made_not_when_read(monkeypatch):
    # a stop signal during training once cut a photo's decode short, and the reader's finalizer
    # then printed a traceback as the run exited; made up front, nothing is decoded mid-run
    from pconv.data import samples

    samples._sample_photo.cache_clear()
    SampleImageDataset(16, "val", length=4)
    decoded = samples._sample_photo.cache_info().currsize
    assert decoded == len(samples.sample_names("val"))
    SampleImageDataset(16, "val", length=4)[3]
    assert samples._sample_photo.cache_info().misses == decoded  # reading an item decodes nothing new
