"""Generated folders that several processes may build at once: build privately, then rename into place.

Two `evaluate` runs that find no shared test-mask set both build it. Writing into the
destination itself lets one rewrite files the other is reading (and a reader sees half a
set). Here each builder fills its own hidden sibling `.NAME.partial-<random>/` and renames
it onto the destination in one step (rename(2) is atomic within a file system), so the
folder is either absent, the previous set, or a complete one. A loser of the race finds the
winner's folder and drops its own copy. `pconv.data.kaggle.archive.install` does the same for downloads.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from pconv.utils import fsync_folder, process_alive, writing

__all__ = ["publish_folder"]

_OWNER = ".pconv-owner"  # pid of the process filling a hidden folder: leftovers of dead ones are removed


def _clean_partials(dest: Path) -> None:
    """Remove hidden `.NAME.partial-*` / `.NAME.old-*` siblings left by processes that were killed."""
    for tmp in [*dest.parent.glob(f".{dest.name}.partial-*"), *dest.parent.glob(f".{dest.name}.old-*")]:
        try:
            pid = int((tmp / _OWNER).read_text())
        except (OSError, ValueError):
            continue  # just created by a live builder (no owner yet), or not ours: leave it
        if process_alive(pid):
            continue
        previous = tmp / dest.name  # an `.old-*` folder of a swap that was killed half-way
        if previous.is_dir() and not dest.exists():
            previous.rename(dest)
        shutil.rmtree(tmp, ignore_errors=True)


def publish_folder(dest: Path, build: Callable[[Path], None], *, replace: bool, what: str) -> bool:
    """Run `build(tmp)` on a private hidden sibling of `dest`, then rename it onto `dest`.

    Args:
        dest: the folder to create (it may exist empty). With `replace`, an existing `dest` is
            moved aside and deleted once the new folder is in place.
        build: fills the folder it is given; anything it raises removes that folder.
        replace: swap out an existing, non-empty `dest` (the caller has checked it may go).
        what: what the folder holds, for error messages ("test-mask set").

    Returns:
        True when this call's folder was put in place; False when `dest` was filled by another
        process meanwhile (without `replace`), and this call's copy was dropped.

    Raises:
        WriteFailedError: the disk is full, read-only, or not writable (names `dest`);
            nothing is left behind and an existing `dest` is intact.
    """
    with writing(dest, what):
        dest.parent.mkdir(parents=True, exist_ok=True)
        _clean_partials(dest)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
        old = None
        try:
            (tmp / _OWNER).write_text(str(os.getpid()))
            build(tmp)
            (tmp / _OWNER).unlink()
            if replace and dest.exists() and any(dest.iterdir()):
                old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
                (old / _OWNER).write_text(str(os.getpid()))
                dest.rename(old / dest.name)
            try:
                tmp.rename(dest)  # atomic; onto an empty folder too, never onto a filled one
            except OSError as e:
                if e.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    if old is not None and not dest.exists():
                        (old / dest.name).rename(dest)  # put the previous folder back
                        old = None
                    raise
                return False  # another process published first
            fsync_folder(dest.parent)
            return True
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
