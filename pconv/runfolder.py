"""One run, one folder: what a training run may do with its `out` folder, and what it must not.

The trainer (`pconv.train`) writes everything a run produces into one folder:
`ckpt_<step>.pt`, `best.pt`, `history.json`/`.csv` and `samples/`. Nothing in it
may be lost, so a run

* holds an exclusive OS lock on `.pconv-run.lock` in the folder while it trains
  (`flock`: the kernel drops it when the process ends, even on SIGKILL, so a crash
  never leaves the folder blocked); a second run on the folder stops at once, naming
  the folder and the PID of the run that holds it;
* checks that it can write there before the first step, and removes the temporary
  files that a killed save left behind (`.<name>.tmp-<pid>`);
* refuses to start fresh over an old run's checkpoints, and resumes from the newest
  readable one;
* writes checkpoints atomically (`pconv.checkpoint`); a failed write (full disk,
  permissions) says which file failed and that the earlier checkpoints are intact;
* prunes to `keep_last` by the step recorded inside the files, never the checkpoint
  just written and never a file that does not load.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .checkpoint import CheckpointWriteError, list_checkpoints, load_latest, prune_checkpoints, save_checkpoint
from .history import write_history

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None

__all__ = ["RunExistsError", "RunFolderError", "RunLockedError", "RunFolder", "LOCK_NAME"]

log = logging.getLogger("pconv.train")
LOCK_NAME = ".pconv-run.lock"
_STALE = re.compile(r"^\..+\.tmp-\d+$")  # what save_checkpoint and write_history write before the rename


class RunExistsError(FileExistsError):
    """`out` already holds a run's checkpoints and `resume` was not asked for."""


class RunFolderError(RuntimeError):
    """The run folder cannot be used: it is a file, cannot be written, or another run holds it."""


class RunLockedError(RunFolderError):
    """Another process is training in this folder right now."""


class RunFolder:
    """The `out` folder of a run: lock, write check, clean-up, resume candidates, checkpoint writes.

    Args:
        path: the folder (created by `locked`).

    Attributes:
        newest: the newest good checkpoint of this run (written, or resumed from), or None.
    """

    def __init__(self, path: str | os.PathLike):
        self.path, self.newest = Path(path), None

    @contextmanager
    def locked(self) -> Iterator[RunFolder]:
        """Hold the folder for one run: create it, check write access, lock it, remove stale temporary files.

        Raises:
            RunFolderError: `path` is a file or cannot be written.
            RunLockedError: another process holds the folder (the message names its PID).
        """
        self._check_writable()
        fd = self._lock()
        try:
            self._remove_stale()
            yield self
        finally:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

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
        found = load_latest(self.path, path)
        if found is not None:
            self.newest = found[0]
        return found

    def save(self, ckpt: dict[str, Any], best: bool = False, keep_last: int = 1) -> Path:
        """Write ckpt_<step>.pt (and best.pt) atomically, then prune to `keep_last`.

        Raises:
            CheckpointWriteError: a file could not be written; names it, the reason and the
                newest checkpoint that is still intact.
        """
        path = self.path / f"ckpt_{ckpt['step']}.pt"
        for target in (path, self.path / "best.pt") if best else (path,):
            try:
                save_checkpoint(ckpt, target)
            except OSError as e:
                kept = f"the newest is {self.newest}" if self.newest else "none was written before"
                raise CheckpointWriteError(
                    f"could not write checkpoint {target} ({e.strerror or e}); nothing was overwritten and the "
                    f"checkpoints written before are intact ({kept}). Free disk space or fix the folder's "
                    "permissions, then continue with resume=True (--resume)"
                ) from e
            if target == path:
                self.newest = path
        prune_checkpoints(self.path, keep_last, newest=path)
        return path

    def write_history(self, history: list[dict[str, Any]]) -> None:
        """history.json and history.csv; a failed write only warns (every checkpoint holds the history)."""
        try:
            write_history(history, self.path)
        except OSError as e:
            log.warning("could not write the history in %s (%s); checkpoints hold it too", self.path, e.strerror or e)

    def save_figure(self, fig: Any, name: str) -> None:
        """Save a matplotlib figure as `name` under the folder; a failed write only warns."""
        path = self.path / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=80, bbox_inches="tight")
        except OSError as e:  # a figure is not worth stopping a run for
            log.warning("could not save the sample figure %s (%s)", path, e.strerror or e)

    # ------------------------------------------------------------------ helpers
    def _check_writable(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"run folder {self.path} is a file, not a folder; choose another out folder (--out)")
        probe = self.path / f".write-test.tmp-{os.getpid()}"  # the stale-file pattern: a crash here is cleaned too
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with open(probe, "wb") as f:
                f.write(b"pconv")
            probe.unlink()
        except OSError as e:
            raise RunFolderError(
                f"cannot write in run folder {self.path} ({e.strerror or e}); fix its permissions or choose "
                "another out folder (--out)"
            ) from e

    def _lock(self) -> int | None:
        if fcntl is None:
            log.warning("cannot lock %s on this platform: make sure that no other run uses this folder", self.path)
            return None
        fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RunLockedError(
                f"another run (PID {holder}) is training in {self.path}; wait for it to end or stop it, "
                f"or choose another out folder (--out) [{e.strerror}]"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for the message a second run shows
        return fd

    def _remove_stale(self) -> None:
        """Temporary files of a save that was killed: no other process writes here while we hold the lock."""
        stale = [p for p in self.path.iterdir() if _STALE.match(p.name) and p.is_file()]
        for p in stale:
            p.unlink(missing_ok=True)
        if stale:
            names = ", ".join(sorted(p.name for p in stale))
            log.info("removed %d temporary file(s) left by an interrupted save in %s: %s", len(stale), self.path, names)
