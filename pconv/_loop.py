"""Small pieces of the training loop kept out of `pconv.train` so that it reads top to bottom.

A seeded, shardable, resumable sampler and the endless batch stream built on it;
moving a batch to the device; deferring Ctrl-C / the notebook's stop button over
a critical section.
"""

from __future__ import annotations

import math
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from .rng import loader_seed

__all__ = [
    "EpochSampler",
    "make_loader",
    "endless_batches",
    "first_batch",
    "to_device",
    "defer_interrupt",
]


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


def make_loader(
    data: Dataset,
    batch_size: int,
    num_workers: int | None,
    pin_memory: bool,
    seed: int,
    sampler: Sampler | None = None,
    drop_last: bool = True,
) -> DataLoader:
    """A DataLoader whose worker seeds come from `seed` (never from the global torch stream)."""
    if num_workers is None:
        from .data import default_num_workers  # here: importing the trainer does not load the image stack

        num_workers = default_num_workers()
    return DataLoader(
        data,
        batch_size,
        sampler=sampler,
        drop_last=drop_last,
        num_workers=num_workers,
        pin_memory=pin_memory,
        generator=torch.Generator().manual_seed(seed),
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


@contextmanager
def defer_interrupt() -> Iterator[None]:
    """Hold SIGINT (Ctrl-C, Jupyter's stop button) until the block ends, then raise KeyboardInterrupt."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    hits: list[int] = []
    old = signal.signal(signal.SIGINT, lambda signum, frame: hits.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old if old is not None else signal.default_int_handler)
        if hits:
            raise KeyboardInterrupt
