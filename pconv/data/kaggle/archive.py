"""From downloaded files to a complete data folder: safe extraction and an atomic install.

Used by `pconv.data.kaggle.download`.

`zipfile.ZipFile.extractall` trusts member names; a hostile or broken archive can
write outside the destination ("zip-slip": `../../.bashrc`, `/etc/passwd`) or plant
symlinks. Here every member is checked before anything is written, files are
streamed with a tqdm bar over bytes, and zips found inside the extracted tree
(CelebA and Carvana ship nested zips) are unpacked in turn, up to a fixed depth.

`install` fills a hidden sibling of the destination, marks it complete (`MARKER`) and
only then renames it into place, so a folder is either absent, the previous data, or
complete; `clean_leftovers` tidies what a process killed mid-way left behind.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from pconv.utils import process_alive

__all__ = ["ArchiveError", "MARKER", "check_members", "safe_extract", "extract_nested", "install", "clean_leftovers"]

log = logging.getLogger(__name__)
MARKER = ".pconv-complete"  # written last into a folder that install() completed
_OWNER = ".pconv-owner"  # pid of the process filling a hidden folder

MAX_DEPTH = 3  # zips inside zips inside zips: enough for every dataset we know, and no zip-quine loops
_CHUNK = 1 << 20


class ArchiveError(ValueError):
    """The archive is corrupt, or a member would land outside the destination."""


def _member_path(dest: Path, info: zipfile.ZipInfo, archive: Path) -> Path:
    """The absolute path where `info` lands under `dest`; raise ArchiveError if it escapes."""
    name = info.filename.replace("\\", "/")  # zips made on Windows may use backslashes
    pure = PurePosixPath(name)
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or ".." in pure.parts:
        raise ArchiveError(
            f"unsafe entry {info.filename!r} in {archive.name}: absolute paths and '..' are not allowed "
            "(zip-slip). The archive was not extracted; delete it and download it again from a trusted source."
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise ArchiveError(
            f"unsafe entry {info.filename!r} in {archive.name}: symbolic links are not extracted. "
            "The archive was not extracted; delete it and download it again from a trusted source."
        )
    target = (dest / pure).resolve()
    if target != dest and dest not in target.parents:
        raise ArchiveError(f"unsafe entry {info.filename!r} in {archive.name}: it would land outside {dest}")
    return target


def check_members(archive: Path, dest: Path) -> list[tuple[zipfile.ZipInfo, Path]]:
    """Validate every member of `archive` against `dest` without writing anything.

    Returns:
        (member, target path) pairs, in archive order.

    Raises:
        ArchiveError: not a zip, or an entry is absolute, climbs out with '..', or is a symlink.
    """
    dest = dest.resolve()
    try:
        with zipfile.ZipFile(archive) as zf:
            return [(info, _member_path(dest, info, archive)) for info in zf.infolist()]
    except zipfile.BadZipFile as err:
        raise ArchiveError(
            f"{archive.name} is not a valid zip file ({err}); the download is probably truncated or corrupt. "
            "Run the download again with force=True (--force)."
        ) from None


def safe_extract(archive: str | Path, dest: str | Path, *, progress: bool = True) -> list[Path]:
    """Extract `archive` into `dest` after checking every member (see `check_members`).

    Args:
        archive: a .zip file.
        dest: destination folder (created if missing).
        progress: show a tqdm bar over uncompressed bytes.

    Returns:
        The extracted file paths.

    Raises:
        ArchiveError: unsafe entries, a corrupt archive or a CRC mismatch.
        OSError: with errno ENOSPC when the disk fills up (also raised before writing when
            the free space is smaller than the uncompressed size).
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    members = check_members(archive, dest)
    total = sum(info.file_size for info, _ in members)
    free = shutil.disk_usage(dest).free
    if total > free:
        need = f"{archive.name} needs {total / 1e9:.2f} GB, only {free / 1e9:.2f} GB free"
        raise OSError(errno.ENOSPC, need, str(dest))
    written = []
    try:
        with (
            zipfile.ZipFile(archive) as zf,
            tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"extract {archive.name}",
                disable=not progress,
            ) as bar,
        ):
            for info, target in members:
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(_CHUNK):
                        dst.write(chunk)
                        bar.update(len(chunk))
                written.append(target)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as err:
        # BadZipFile: CRC mismatch or truncated data; zlib.error: corrupt deflate stream;
        # NotImplementedError: unknown compression; RuntimeError: encrypted member.
        raise ArchiveError(
            f"could not extract {archive.name}: {err}. Run the download again with force=True (--force)."
        ) from None
    return written


def extract_nested(root: str | Path, *, progress: bool = True, remove: bool = True) -> list[Path]:
    """Extract every .zip under `root` beside itself, repeating for zips found inside, up to MAX_DEPTH.

    Args:
        root: folder to scan.
        progress: show tqdm bars.
        remove: delete each archive once it is extracted (saves the disk space of a second copy).

    Returns:
        The archives that were extracted.

    Raises:
        ArchiveError: see `safe_extract`; also when zips are still nested deeper than MAX_DEPTH.
    """
    root = Path(root)
    done: list[Path] = []
    for depth in range(MAX_DEPTH + 1):
        archives = sorted(p for p in root.rglob("*") if p.suffix.lower() == ".zip" and p.is_file() and p not in done)
        if not archives:
            return done
        if depth == MAX_DEPTH:
            break
        for archive in archives:
            safe_extract(archive, archive.parent, progress=progress)
            if remove:
                archive.unlink()
            done.append(archive)
    raise ArchiveError(f"zips under {root} are nested more than {MAX_DEPTH} levels deep; refusing to go on")


def clean_leftovers(dest: Path) -> None:
    """Tidy what an `install` killed mid-way left next to `dest` (a normal failure cleans up itself).

    A hidden `.NAME.partial-*` folder whose process is gone is deleted. A `.NAME.old-*`
    folder holds the previous data while it is being swapped for new data: if `dest` is
    missing, the previous data is put back; if `dest` is complete, it is deleted.
    """
    for tmp in dest.parent.glob(f".{dest.name}.partial-*"):
        try:
            pid = int((tmp / _OWNER).read_text())
        except (OSError, ValueError):
            pid = None  # killed before it wrote its owner: nothing in it yet
        if pid is None or not process_alive(pid):
            log.info("removing %s, left by a download that was interrupted", tmp)
            shutil.rmtree(tmp, ignore_errors=True)
    for old in dest.parent.glob(f".{dest.name}.old-*"):
        previous = old / dest.name
        if previous.is_dir() and not dest.exists():
            previous.rename(dest)
            log.warning("restored %s from %s: a re-download was interrupted while swapping folders", dest, old)
        if (dest / MARKER).is_file() or not previous.exists():
            shutil.rmtree(old, ignore_errors=True)


def install(dest: Path, fill: Callable[[Path], object], about: dict) -> Path:
    """Fill a hidden sibling of `dest`, extract the zips in it, mark it complete, then swap it in.

    Args:
        dest: the folder to create or replace; the previous one is replaced only once the
            new one is complete, and is kept if anything fails.
        fill: called with the hidden folder; writes the downloaded files into it.
        about: written as JSON into the `MARKER` file (e.g. the dataset's slug).

    Returns:
        `dest`.

    Raises:
        ArchiveError: see `extract_nested`. OSError: from `fill` or the file system
            (errno ENOSPC when the disk fills up). Nothing is left behind either way.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    (tmp / _OWNER).write_text(str(os.getpid()))
    old = None
    try:
        fill(tmp)
        (tmp / _OWNER).unlink()
        extract_nested(tmp)
        (tmp / MARKER).write_text(json.dumps(about) + "\n")
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            dest.rename(old / dest.name)
        try:
            tmp.rename(dest)
        except OSError:
            if old is not None:
                (old / dest.name).rename(dest)  # put the previous data back
                old = None
            raise
        return dest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
