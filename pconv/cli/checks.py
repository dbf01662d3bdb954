"""Checks the training commands (`train`, `segment`) make before any model is built.

Each raises `UsageError` naming the flag and what to pass instead, which `main` prints as
one line with exit status 2.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch.distributed as dist

from pconv.cli.errors import UsageError
from pconv.train import list_checkpoints

__all__ = ["check_batch_size", "check_resumable"]


def check_resumable(out: Path | None) -> None:
    """--resume needs a run to continue: refuse (rather than quietly start fresh) when --out holds no checkpoint."""
    if out is None:
        raise UsageError("--resume needs --out: the run folder to continue")
    if not list_checkpoints(out) and not (out / "best.pt").is_file():
        state = "does not exist" if not out.exists() else "holds no checkpoint (ckpt_<step>.pt or best.pt)"
        raise UsageError(f"--out {out} {state}: nothing to resume; leave out --resume to start a fresh run there")


def check_batch_size(batch_size: int, data: Any, n: int) -> None:
    """Refuse a --batch-size that the `n` training samples of --data `data` cannot fill, per process."""
    world = dist.get_world_size() if dist.is_initialized() else int(os.environ.get("WORLD_SIZE", "1"))
    per_process = -(-n // world)  # the sampler gives each process ceil(n / world) samples
    if batch_size > per_process:
        each = f" per process ({world} processes)" if world > 1 else ""
        raise UsageError(
            f"--batch-size {batch_size} is larger than the training set: --data {data} gives "
            f"{per_process} images{each}; pass --batch-size {max(1, per_process)} or less, or add images"
        )
