"""Tests for pconv.data.dataset_items: indexing, per-item seeding and the train/val split every dataset shares."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pconv.data.dataset_items import check_index, item_rng, split_indices


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
