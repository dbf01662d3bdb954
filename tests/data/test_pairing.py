"""Tests for pconv/pairing.py: InpaintingDataset pairs images with masks, in cycle or at random."""

from __future__ import annotations

import pytest
import torch

from pconv.data import InpaintingDataset


def _masks(n, size=16):
    out = []
    for i in range(n):
        m = torch.ones(1, size, size)
        m[:, : i + 1] = 0
        out.append(m)
    return out


def test_inpainting_dataset_pairs_and_cycles():
    images = [torch.rand(3, 16, 16) for _ in range(5)]
    masks = _masks(2)
    ds = InpaintingDataset(images, masks)
    assert len(ds) == 5
    for i in range(5):
        item = ds[i]
        assert torch.equal(item["image"], images[i]) and torch.equal(item["mask"], masks[i % 2])
    assert torch.equal(InpaintingDataset([{"image": images[0]}], [{"mask": masks[1][0]}])[0]["mask"], masks[1])
    assert torch.equal(InpaintingDataset([(images[0], 7)], masks)[0]["image"], images[0])


def test_inpainting_dataset_resizes_masks_nearest():
    mask = torch.ones(1, 8, 8)
    mask[:, :, :4] = 0  # left half is a hole
    item = InpaintingDataset([torch.rand(3, 32, 32)], [mask])[0]
    assert item["mask"].shape == (1, 32, 32)
    assert set(item["mask"].unique().tolist()) == {0.0, 1.0}
    assert item["mask"][..., :16].sum() == 0 and item["mask"][..., 16:].min() == 1


def test_inpainting_dataset_resize_is_blockwise_nearest():
    mask = (torch.rand(1, 5, 5, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    got = InpaintingDataset([torch.rand(3, 15, 15)], [mask])[0]["mask"]
    assert torch.equal(got, mask.repeat_interleave(3, -1).repeat_interleave(3, -2))


def test_inpainting_dataset_random_pairing_is_seeded():
    images, masks = [torch.rand(3, 16, 16) for _ in range(20)], _masks(8)
    a = InpaintingDataset(images, masks, pairing="random", seed=0)
    b = InpaintingDataset(images, masks, pairing="random", seed=0)
    picks = [int((1 - a[i]["mask"]).sum() / 16) for i in range(20)]
    assert picks == [int((1 - b[i]["mask"]).sum() / 16) for i in range(20)] and len(set(picks)) > 2


def test_inpainting_dataset_errors():
    with pytest.raises(ValueError, match=r"masks\[0\].*binary"):
        InpaintingDataset([torch.rand(3, 8, 8)], [torch.full((1, 8, 8), 0.5)])[0]
    with pytest.raises(ValueError, match=r"images\[0\]"):
        InpaintingDataset([torch.rand(8, 8)], _masks(1))[0]
    with pytest.raises(ValueError, match="empty"):
        InpaintingDataset([torch.rand(3, 8, 8)], [])
    with pytest.raises(ValueError, match="pairing"):
        InpaintingDataset([torch.rand(3, 8, 8)], _masks(1), pairing="zip")
