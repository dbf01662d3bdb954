"""Fetching one file over HTTP(S) (or file://) so that a partial download never looks complete.

Used by `pconv.pretrained.registry` for the public checkpoints. The bytes go to a temporary name
beside the target (`.NAME.part-PID`), are hashed while they arrive, fsync-ed, checked
against the expected SHA-256 (or its published prefix) and the length the server
announced, and only then renamed onto the target (`os.replace` is atomic). Any failure,
Ctrl-C included, deletes the temporary file, and an earlier file at the target stays as it
was. A full disk (or no permission) is a `pconv.utils.WriteFailedError` naming the file, not a
broken download. A connect timeout bounds how long an offline machine waits. Standard library
only (`urllib`), plus a tqdm bar over bytes.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path

from pconv.utils import fsync_folder, process_alive, writing

__all__ = ["CONNECT_TIMEOUT", "DownloadError", "sha256_of", "fetch"]

CONNECT_TIMEOUT = 10.0  # seconds to connect, and to wait for each chunk: offline fails in seconds
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A file could not be fetched, was truncated, or does not have the expected SHA-256."""


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, as 64 hex digits (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _clean_stale_parts(dest: Path) -> None:
    """Delete `.NAME.part-PID` files that processes which no longer run left behind."""
    for part in dest.parent.glob(f".{dest.name}.part-*"):
        pid = part.name.rsplit("-", 1)[1]
        if not pid.isdigit() or not process_alive(int(pid)):  # another user's running process keeps its file
            part.unlink(missing_ok=True)


def fetch(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    sha256_prefix: str | None = None,
    timeout: float = CONNECT_TIMEOUT,
    progress: bool = True,
) -> str:
    """Download `url` to `dest` atomically and check it; returns the file's SHA-256.

    Args:
        url: http(s):// or file:// address.
        dest: the target file; its folder is created. An existing file is replaced only
            by a complete, checked download.
        sha256, sha256_prefix: the expected digest, or the start of it (hex); None: unchecked.
        timeout: seconds to connect and to wait for each chunk.
        progress: show a tqdm bar over bytes.

    Raises:
        DownloadError: no connection (the reason given), an HTTP error, a download cut
            short (the message counts the bytes that arrived), or a SHA-256 that does not
            match (the download is deleted).
        WriteFailedError: the file could not be written (full disk, permissions).
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    try:
        response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (the registry's URLs)
    except urllib.error.HTTPError as e:
        raise DownloadError(f"the server answered {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise DownloadError(f"cannot connect ({getattr(e, 'reason', e)})") from None
    received, digest = 0, hashlib.sha256()
    read = getattr(response, "read1", response.read)  # read1: what has arrived, so a cut-off loses no count
    try:
        with response:
            with writing(dest, "download"):
                dest.parent.mkdir(parents=True, exist_ok=True)  # only once there is something to write
            _clean_stale_parts(dest)
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            bar = tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress)
            with writing(dest, "download"), open(tmp, "wb") as f, bar:
                while True:
                    try:
                        chunk = read(CHUNK)
                    except (OSError, http.client.HTTPException) as e:  # reset, timeout, IncompleteRead
                        received += len(getattr(e, "partial", b"") or b"")  # IncompleteRead: bytes that came
                        raise DownloadError(f"the download broke off after {received} bytes ({e!r})") from None
                    if not chunk:
                        break
                    f.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
                f.flush()
                os.fsync(f.fileno())
        if total is not None and received != total:
            raise DownloadError(f"the download was cut short: {received} of {total} bytes")
        got = digest.hexdigest()
        want = (sha256 or "").lower() or (sha256_prefix or "").lower()
        if want and not got.startswith(want):
            raise DownloadError(
                f"the downloaded file's SHA-256 is {got}, not the expected "
                f"{'one' if sha256 else 'prefix'} {want}; the download was deleted"
            )
        with writing(dest, "download"):
            os.replace(tmp, dest)
        fsync_folder(dest.parent)
        return got
    finally:
        tmp.unlink(missing_ok=True)  # after a failure; a success renamed it away already
