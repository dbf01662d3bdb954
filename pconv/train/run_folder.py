"""One run, one folder: what a training run may do with its `out` folder, and what it must not.

The trainer (`pconv.train.trainer`) writes everything a run produces into one folder:
`ckpt_<step>.pt`, `best.pt`, `history.json`/`.csv` and `samples/`. Nothing in it
may be lost, so a run

* holds an exclusive OS lock while it trains, on the folder itself and on
  `.pconv-run.lock` in it (`flock`: the kernel drops it when the process ends, even on
  SIGKILL, so a crash never leaves the folder blocked). Locking the folder means that
  deleting the lock file does not let a second run in; the file holds the PID for the
  message, and is checked to still be the locked one (a file deleted and made again
  between our open and our lock is not ours). A second run stops at once, naming the
  folder and the PID of the run that holds it;
* checks that it can write there before the first step, and removes the temporary
  files that a killed save left behind (`.<name>.tmp-<pid>`);
* refuses to start fresh over an old run's checkpoints, and resumes from the newest
  readable one;
* writes checkpoints atomically (`pconv.train.checkpoint`); a failed write (full disk,
  permissions, torch's RuntimeError for a full disk) raises `CheckpointWriteError` (a
  `WriteFailedError`) naming the file, the fix, and the newest checkpoint still intact;
  history and sample figures are written atomically too, and a failed one only warns
  (every checkpoint holds the history; the next checkpoint write stops the run);
* prunes to `keep_last` by the step recorded inside the files, never the checkpoint
  just written and never a file that does not load.
"""

from __future__ import annotations

import errno
import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pconv.train.checkpoint import CheckpointWriteError, checkpoint_step, list_checkpoints, load_latest, save_checkpoint
from pconv.train.history import write_history
from pconv.utils import WriteFailedError, writing

try:
    import fcntl
except ImportError:  # Windows: no flock
    fcntl = None

__all__ = ["RunExistsError", "RunFolderError", "RunLockedError", "RunFolder", "LOCK_NAME", "prune_checkpoints"]

log = logging.getLogger("pconv.train.trainer")
LOCK_NAME = ".pconv-run.lock"
_STALE = re.compile(r"^\..+\.tmp-\d+$")  # what save_checkpoint and write_history write before the rename


class RunExistsError(FileExistsError):
    """`out` already holds a run's checkpoints and `resume` was not asked for."""


class RunFolderError(RuntimeError):
    """The run folder cannot be used: it is a file, cannot be written, or another run holds it."""


class RunLockedError(RunFolderError):
    """Another process is training in this folder right now."""


def prune_checkpoints(folder: str | os.PathLike, keep_last: int, newest: str | os.PathLike | None = None) -> list[Path]:
    """Delete old `ckpt_<step>.pt` files, by the step recorded inside them, keeping `keep_last` (at least 1).

    Only files that load are candidates: an unreadable file is never deleted (it may be
    a user's, and it is not counted). `newest` (default: the highest recorded step) is
    never deleted, nor any file that records a later step than it. `best.pt` is kept.

    Returns:
        The deleted paths.
    """
    steps = {p: s for _, p in list_checkpoints(folder) if (s := checkpoint_step(p)) is not None}
    if not steps:
        return []
    newest = Path(newest) if newest is not None else max(steps, key=lambda p: steps[p])
    top = steps.get(newest, max(steps.values()))
    older = sorted((p for p, s in steps.items() if s <= top and p != newest), key=lambda p: steps[p], reverse=True)
    doomed = older[max(1, keep_last) - 1 :]
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed


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
        fds = self._lock()
        try:
            self._remove_stale()
            yield self
        finally:
            for fd in fds:
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

    def check_fresh(self) -> None:
        """Raise RunExistsError when the folder holds checkpoints of a run."""
        found = list_checkpoints(self.path)
        if found or (self.path / "best.pt").exists():
            newest = found[-1][1].name if found else "best.pt"
            raise RunExistsError(
                f"{self.path} already holds checkpoints of a run (newest: {newest}); "
                "continue it with --resume (resume=True in Python), or choose a new out folder (--out)"
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
                save_checkpoint(ckpt, target)  # a full disk (OSError or torch's RuntimeError): WriteFailedError
            except OSError as e:
                kept = f"the newest is {self.newest}" if self.newest else "none was written before"
                why = str(e) if isinstance(e, WriteFailedError) else f"could not write {target}: {e.strerror or e}"
                err = CheckpointWriteError(
                    f"{why}; nothing was overwritten and the checkpoints written before are intact ({kept}). "
                    "Then continue with --resume (resume=True in Python)"
                )
                err.errno = e.errno
                raise err from e
            if target == path:
                self.newest = path
        prune_checkpoints(self.path, keep_last, newest=path)
        return path

    def write_history(self, history: list[dict[str, Any]]) -> None:
        """history.json and history.csv; a failed write only warns (every checkpoint holds the history)."""
        try:
            write_history(history, self.path)  # atomic: a failure leaves the previous files and no temporary one
        except OSError as e:
            log.warning("%s; the history is in every checkpoint too", e if isinstance(e, WriteFailedError) else e)

    def save_figure(self, fig: Any, name: str) -> None:
        """Save a matplotlib figure as `name` under the folder, atomically; a failed write only warns."""
        path = self.path / name
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")  # the stale-file pattern: cleaned on a restart
        try:
            with writing(path, "sample figure"):
                path.parent.mkdir(parents=True, exist_ok=True)
                fig.savefig(tmp, dpi=80, bbox_inches="tight", format=path.suffix[1:] or "png")
                os.replace(tmp, path)
        except OSError as e:  # a figure is not worth stopping a run for
            log.warning("could not save the sample figure %s (%s)", path, e)
        finally:
            tmp.unlink(missing_ok=True)

    # ------------------------------------------------------------------ helpers
    def _check_writable(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"run folder {self.path} is a file, not a folder; choose another out folder (--out)")
        if self.path.is_symlink() and not self.path.exists():
            raise RunFolderError(
                f"run folder {self.path} is a symlink to {os.readlink(self.path)}, which does not exist; "
                "create that folder, or choose another out folder (--out)"
            )
        probe = self.path / f".write-test.tmp-{os.getpid()}"  # the stale-file pattern: a crash here is cleaned too
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            with open(probe, "wb") as f:
                f.write(b"pconv")
            probe.unlink()
        except OSError as e:
            fix = "free some space" if e.errno in (errno.ENOSPC, errno.EDQUOT) else "fix its permissions"
            raise RunFolderError(
                f"cannot write in run folder {self.path} ({e.strerror or e}); {fix} or choose "
                "another out folder (--out)"
            ) from e

    def _lock(self) -> list[int]:
        """Lock the folder, then the lock file; returns the locked descriptors (none without flock)."""
        if fcntl is None:
            log.warning("cannot lock %s on this platform: make sure that no other run uses this folder", self.path)
            return []
        fds: list[int] = []
        try:
            folder = os.open(self.path, os.O_RDONLY)
            fds.append(folder)
            if not self._flock(folder):  # a file system without folder locks: the lock file still guards
                fds.pop()
                os.close(folder)
            for _ in range(10):
                fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
                fds.append(fd)
                self._flock(fd, refuse=True)
                try:
                    same = os.stat(self.path / LOCK_NAME).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if same:  # the path still names the file we locked
                    break
                fds.pop()
                os.close(fd)
            else:
                raise RunFolderError(f"the lock file {self.path / LOCK_NAME} keeps changing; is another run starting?")
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        os.ftruncate(fds[-1], 0)
        os.write(fds[-1], f"{os.getpid()}\n".encode())  # for the message a second run shows
        return fds

    def _flock(self, fd: int, refuse: bool = False) -> bool:
        """Lock `fd`; RunLockedError when another process holds it. False when this file system cannot lock it."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES) and not refuse:
                return False
            try:
                with open(self.path / LOCK_NAME, encoding="utf-8", errors="replace") as f:
                    holder = f.read(32).strip() or "unknown"
            except OSError:
                holder = "unknown"
            raise RunLockedError(
                f"another run (PID {holder}) is training in {self.path}; wait for it to end or stop it, "
                f"or choose another out folder (--out) [{e.strerror}]"
            ) from None

    def _remove_stale(self) -> None:
        """Temporary files of a save that was killed: no other process writes here while we hold the lock."""
        stale = [p for p in self.path.iterdir() if _STALE.match(p.name) and p.is_file()]
        for p in stale:
            p.unlink(missing_ok=True)
        if stale:
            names = ", ".join(sorted(p.name for p in stale))
            log.info("removed %d temporary file(s) left by an interrupted save in %s: %s", len(stale), self.path, names)
