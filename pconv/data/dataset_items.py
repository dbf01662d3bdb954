"""How every dataset indexes, seeds and splits its items, written once.

The datasets of pconv/data (image_folder.py, samples.py, seg_datasets.py, masks.py,
mask_folder.py, pairing.py) index alike (`check_index`: negative indices, IndexError that
ends iteration), seed an item from (seed, index, epoch) so that it is the same whichever
DataLoader worker serves it (`item_rng`), and split train from val deterministically
(`split_indices`).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["check_index", "item_rng", "split_indices"]


def item_rng(seed: int | None, *key: int) -> np.random.Generator:
    """Per-item Generator: from (seed, *key), or from torch's worker-aware global RNG if seed is None.

    Keyed on the item (e.g. (seed, index, epoch)), an item is the same whichever DataLoader
    worker serves it; with seed=None, DataLoader seeds torch differently in every worker.
    """
    if seed is None:
        return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
    return np.random.default_rng([int(seed), *(int(k) for k in key)])


def check_index(index: int, length: int) -> int:
    """`index` in [-length, length) as a non-negative index, else IndexError (ends iteration)."""
    if not -length <= index < length:
        raise IndexError(f"index {index} out of range for a dataset of length {length}")
    return index % length


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic random partition of range(n) into sorted (train, val) index lists.

    val gets round(n * val_fraction) items, and at least one when val_fraction > 0 and n >= 2
    (train keeps at least one too).
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    n_val = round(n * val_fraction)
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    val = set(perm[:n_val].tolist())
    return [i for i in range(n) if i not in val], sorted(val)
