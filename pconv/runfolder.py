"""One run, one folder: what a training run may do with its `out` folder.

The trainer (`pconv.train`) writes everything a run produces into one folder:
`ckpt_<step>.pt`, `best.pt`, `history.json`/`.csv` and `samples/`. This module
decides which checkpoint a resumed run starts from, refuses to start a fresh run
over an old one, and writes checkpoints (atomically, `pconv.checkpoint`) with the
`keep_last` pruning.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from .checkpoint import list_checkpoints, load_latest, prune_checkpoints, save_checkpoint

__all__ = ["RunExistsError", "RunFolder"]

log = logging.getLogger("pconv.train")


class RunExistsError(FileExistsError):
    """`out` already holds a run's checkpoints and `resume` was not asked for."""


class RunFolder:
    """The `out` folder of a run: fresh-start check, resume candidates, checkpoint writes.

    Args:
        path: the folder (created on the first write).
        keep_last: how many `ckpt_<step>.pt` files to keep (`best.pt` is always kept).
    """

    def __init__(self, path: str | os.PathLike, keep_last: int):
        self.path, self.keep_last = Path(path), keep_last

    def check_fresh(self) -> None:
        """Raise RunExistsError when the folder holds checkpoints of a run."""
        found = list_checkpoints(self.path)
        if found or (self.path / "best.pt").exists():
            newest = found[-1][1].name if found else "best.pt"
            raise RunExistsError(
                f"{self.path} already holds checkpoints of a run (newest: {newest}); "
                "pass resume=True (--resume) to continue it, or choose a new out folder (--out)"
            )

    def latest(self, path: str | os.PathLike | None = None) -> tuple[Path, dict[str, Any]] | None:
        """The newest readable checkpoint (or `path`), skipping unreadable ones; None when there is none."""
        return load_latest(self.path, path)

    def save(self, ckpt: dict[str, Any], best: bool = False) -> Path:
        """Write ckpt_<step>.pt (and best.pt) atomically, then prune to `keep_last`."""
        path = self.path / f"ckpt_{ckpt['step']}.pt"
        save_checkpoint(ckpt, path)
        if best:
            save_checkpoint(ckpt, self.path / "best.pt")
        prune_checkpoints(self.path, self.keep_last)
        return path
