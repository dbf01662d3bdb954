"""Small pieces of the training loop kept out of `pconv.train.trainer` so that it reads top to bottom.

A seeded, shardable, resumable sampler and the endless batch stream built on it;
DataLoader workers that never fork, and how many to start (`default_num_workers`);
moving a batch to the device.

Workers start by "forkserver" on Linux and "spawn" elsewhere (`WORKER_START`), never
by "fork": forking a process that already runs threads (torch's thread pools) can
deadlock, Python 3.12+ warns about it, and 3.14 stops forking by default on Linux.
Fresh worker processes rebuild the dataset by pickling it, so a dataset that cannot
be rebuilt there (defined in a notebook cell or inside a function, or holding a lock)
is read in the main process instead, with a warning that says why.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import pickle
import sys
import types
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

__all__ = [
    "default_num_workers",
    "loader_seed",
    "EpochSampler",
    "make_loader",
    "unpicklable_reason",
    "endless_batches",
    "first_batch",
    "to_device",
    "WORKER_START",
]


def loader_seed(seed: int, epoch: int, rank: int) -> int:
    """A 63-bit seed mixed from (seed, epoch, rank): DataLoader worker streams differ per epoch and rank.

    `epoch` and `rank` may be -1 (used for "validation" and "shared by all ranks").
    """
    return int(np.random.SeedSequence([seed, epoch + 1, rank + 1]).generate_state(2, np.uint64)[0] >> np.uint64(1))


WORKER_START = "forkserver" if sys.platform.startswith("linux") else "spawn"


class EpochSampler(Sampler[int]):
    """Epoch `epoch`'s permutation seeded by (seed, epoch), this rank's shard, from sample `start` on.

    As `DistributedSampler`, the permutation is padded by wrapping around so that every
    rank gets `ceil(n / world)` indices; rank r takes positions r, r + world, ...
    Starting at `start` lets a resumed run continue mid-epoch without reading skipped data.
    """

    def __init__(self, n: int, seed: int, epoch: int, rank: int = 0, world: int = 1, start: int = 0):
        g = torch.Generator().manual_seed(loader_seed(seed, epoch, -1))
        perm = torch.randperm(n, generator=g).tolist()
        total = math.ceil(n / world) * world
        perm = (perm * math.ceil(total / n))[:total]
        self.indices = perm[rank::world][start:]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class _Discard:
    def write(self, b: bytes) -> int:
        return len(b)


def unpicklable_reason(data: Any) -> str | None:
    """Why a worker process started by spawn or forkserver could not rebuild `data`; None when it can.

    Pickles `data` the way a DataLoader sends it to a worker (array contents are skipped:
    only whether it pickles matters), and flags classes and functions of an interactive
    `__main__` (a notebook), which a fresh process cannot import.
    """
    main = sys.modules.get("__main__")
    interactive = main is not None and not hasattr(main, "__file__")
    in_notebook: list[str] = []

    class Probe(pickle.Pickler):
        def persistent_id(self, obj: Any) -> str | None:
            return "array" if isinstance(obj, (torch.Tensor, np.ndarray)) else None

        def reducer_override(self, obj: Any) -> Any:
            if interactive and isinstance(obj, (type, types.FunctionType)) and obj.__module__ == "__main__":
                in_notebook.append(obj.__qualname__)
            return NotImplemented

    try:
        Probe(_Discard(), protocol=pickle.HIGHEST_PROTOCOL).dump(data)
    except Exception as e:  # PicklingError, AttributeError, TypeError: all mean "cannot be sent"
        return f"it cannot be pickled ({type(e).__name__}: {e})"
    if in_notebook:
        return f"{in_notebook[0]} is defined in the notebook (__main__), which worker processes cannot import"
    return None


def default_num_workers() -> int:
    """A safe DataLoader `num_workers`: 0 with two or fewer CPUs, else min(4, CPUs - 1).

    Workers never fork: `make_loader` starts them by forkserver (Linux) or spawn,
    and reads a dataset they could not rebuild (one defined in a notebook cell) in the main
    process instead, with a warning, so this number is safe in Jupyter too.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    if cpus <= 2:
        return 0
    return min(4, cpus - 1)


def make_loader(
    data: Dataset,
    batch_size: int,
    num_workers: int | None,
    pin_memory: bool,
    seed: int,
    sampler: Sampler | None = None,
    drop_last: bool = True,
) -> DataLoader:
    """A DataLoader whose worker seeds come from `seed` (never from the global torch stream).

    Workers (`num_workers` > 0; None: `default_num_workers()`) start by
    `WORKER_START`; a dataset they could not rebuild is read in the main process instead.
    """
    if num_workers is None:
        num_workers = default_num_workers()
    context = None
    if num_workers > 0:
        reason = unpicklable_reason(data)
        if reason is None:
            context = multiprocessing.get_context(WORKER_START)
        else:
            warnings.warn(
                f"DataLoader workers start by {WORKER_START} and could not rebuild this dataset: {reason}. "
                "Reading it in the main process instead (num_workers=0); define the dataset in a .py "
                "module (and make it picklable) to use workers.",
                stacklevel=2,
            )
            num_workers = 0
    return DataLoader(
        data,
        batch_size,
        sampler=sampler,
        drop_last=drop_last,
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(seed),
        multiprocessing_context=context,
    )


def endless_batches(
    data: Dataset | DataLoader,
    batch_size: int,
    seed: int,
    start_step: int,
    rank: int = 0,
    world: int = 1,
    num_workers: int | None = 0,
    pin_memory: bool = False,
) -> Iterator[Any]:
    """Batches over epoch after epoch, as step `start_step` of a run would see them.

    A Dataset is read in `EpochSampler` order (epoch e's permutation, this rank's shard,
    whole batches only), so the stream depends only on (seed, step): resuming is exact.
    Datasets with `set_epoch` (masks, augmentation) are told the epoch. A DataLoader is
    used as is and restarts from its beginning.
    """
    if isinstance(data, DataLoader):
        epoch = 0
        while True:
            if hasattr(data.sampler, "set_epoch"):
                data.sampler.set_epoch(epoch)
            empty = True
            for batch in data:
                empty = False
                yield batch
            if empty:
                raise ValueError("train_data is an empty DataLoader")
            epoch += 1
    per_epoch = math.ceil(len(data) / world) // batch_size
    if per_epoch == 0:
        raise ValueError(
            f"train_data has {len(data)} samples: fewer than batch_size={batch_size} per process "
            f"({world} process(es)); use a smaller batch_size or more data"
        )
    epoch, skip = divmod(start_step, per_epoch)
    while True:
        if hasattr(data, "set_epoch"):
            data.set_epoch(epoch)
        sampler = EpochSampler(len(data), seed, epoch, rank, world, start=skip * batch_size)
        yield from make_loader(data, batch_size, num_workers, pin_memory, loader_seed(seed, epoch, rank), sampler)
        epoch, skip = epoch + 1, 0


def first_batch(data: Dataset | DataLoader, n: int = 4) -> Any:
    """The first `n` items of a Dataset as one batch (or a DataLoader's first batch); None if empty."""
    if isinstance(data, DataLoader):
        return next(iter(data), None)
    items = [data[i] for i in range(min(n, len(data)))]
    return default_collate(items) if items else None


def to_device(batch: Any, device: torch.device, channels_last: bool = False) -> dict[str, torch.Tensor]:
    """A batch dict (or an (image, mask) pair) on `device`; 4-D tensors optionally channels-last."""
    if isinstance(batch, (list, tuple)):
        batch = {"image": batch[0], "mask": batch[1]}
    if not isinstance(batch, dict):
        raise TypeError(
            f"a batch must be a dict with 'image' and 'mask' or an (image, mask) pair, got {type(batch).__name__}"
        )
    non_blocking = device.type == "cuda"
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor):
            v = v.to(device, non_blocking=non_blocking)
            if channels_last and v.dim() == 4:
                v = v.contiguous(memory_format=torch.channels_last)
        out[k] = v
    return out
