"""Image files in a folder: finding them, leaving out the unreadable ones, surviving a bad one mid-epoch.

Downloads leave hidden files, `__MACOSX` folders, symlinked folders and the odd truncated
or non-image file behind. `find_images` lists candidates by extension (files unopened);
`readable_images` tests each with `pconv.data.image_io.probe_image` and `warn_skipped`
reports the ones left out, once; `read_with_fallback` lets a dataset serve the next
readable file when one fails to decode late, so one bad file never stops an epoch. Used by
pconv/data/image_folder.py, mask_folder.py and seg_datasets.py alike.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from pconv.data.image_io import ImageLoadError, probe_image

__all__ = [
    "IMAGE_EXTENSIONS",
    "find_images",
    "read_with_fallback",
    "readable_images",
    "walk_folders",
    "warn_skipped",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
T = TypeVar("T")


def readable_images(candidates: Sequence[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """`candidates` split by `probe_image` into (readable files, [(skipped file, why)]), order kept."""
    files, skipped = [], []
    for p in candidates:
        reason = probe_image(p)
        if reason is None:
            files.append(p)
        else:
            skipped.append((p, reason))
    return files, skipped


def warn_skipped(what: str, skipped: Sequence[tuple[Path, str]], stacklevel: int = 2) -> None:
    """One warning for the files a dataset leaves out: the first 10 and why (its `.skipped` holds all).

    `stacklevel` counts from the caller of `warn_skipped`, as `warnings.warn`'s does.
    """
    lines = [f"  {p}: {why}" for p, why in skipped[:10]]
    more = f"\n  ... and {len(skipped) - 10} more (see .skipped)" if len(skipped) > 10 else ""
    text = f"{what}: skipping {len(skipped)} unreadable file(s):\n" + "\n".join(lines) + more
    warnings.warn(text, stacklevel=stacklevel + 1)


def read_with_fallback(
    files: Sequence[Path],
    index: int,
    read: Callable[[Path], T],
    bad: set[int],
    skipped: list[tuple[Path, str]],
    owner: str,
) -> T:
    """`read(files[index])`, or of the next file that reads (wrapping around): one bad file never stops an epoch.

    A file whose `read` raises ImageLoadError is added to `bad` (not tried again) and to
    `skipped` as (path, reason), with one warning naming it; `bad` and `skipped` belong to
    the calling dataset (per process, as DataLoader workers hold copies).

    Raises:
        RuntimeError: none of the files reads.
    """
    n = len(files)
    for i in ((index + k) % n for k in range(n)):
        if i in bad:
            continue
        try:
            return read(files[i])
        except ImageLoadError as e:
            bad.add(i)
            skipped.append((e.path, e.reason))
            warnings.warn(
                f"{owner}: skipping unreadable {e.path}: {e.reason} (the next readable file is used instead)",
                stacklevel=3,  # the caller of dataset[index]
            )
    raise RuntimeError(f"{owner}: none of the {n} files could be decoded; see the warnings above")


def walk_folders(root: Path) -> Iterator[tuple[str, list[str]]]:
    """(folder, file names) under `root`, symlinked folders followed, each real folder visited once.

    Hidden files and folders and macOS `__MACOSX` folders are left out. Following links lets a
    data folder gather photos kept elsewhere; the visited set (device, inode) stops link loops.
    """
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            dirnames[:] = []  # a loop, or a second link to a folder already read
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__MACOSX"]
        yield dirpath, [f for f in filenames if not f.startswith(".")]


def find_images(root: str | os.PathLike) -> list[Path]:
    """Image files under `root`, recursively (symlinked folders followed, once), in sorted order.

    Extensions (IMAGE_EXTENSIONS) match case-insensitively; hidden files and folders and
    macOS `__MACOSX` folders are ignored. Files are not opened here.
    """
    root = Path(root).expanduser()
    found = []
    for dirpath, filenames in walk_folders(root):
        found += [Path(dirpath, f) for f in filenames if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())
