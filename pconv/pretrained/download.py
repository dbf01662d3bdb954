"""Fetching one file over HTTP(S) (or file://) so that a partial or wrong download never looks complete.

The transfer is `torch.hub.download_url_to_file` (its temporary file, User-Agent "torch.hub"
and progress bar). Around it, what it lacks for a cache that must never hold a bad file:

- a timeout: it calls `urlopen` without one, so a machine whose packets are dropped waits
  minutes to connect and a stalled server forever; the socket module's default timeout
  bounds each connect and read for the duration of the call (the only way to reach it);
- a length check: http.client returns what came when a connection drops before the
  announced Content-Length, and download_url_to_file renames that into place; here every
  file is checked (`check`, then the SHA-256 prefix) before it can reach `dest`;
- a look at what came before the hash: its own hash check deletes a mismatching file, so
  an HTML page served in place of the checkpoint would read as a bare hash mismatch; here
  `check` sees the file first (pconv.pretrained.cache names such pages) and the prefix is
  compared after it;
- durability and ownership: the file is fsync-ed before the atomic `os.replace` onto `dest`,
  the temporary name carries the process id, and leftovers of processes that no longer run
  are deleted.

So the bytes go to `.NAME.part-PID` beside the target (download_url_to_file's own
temporary file is `.NAME.part-PID.<hex>.partial`), and only a checked file is renamed onto
it. Any failure, Ctrl-C included, deletes the temporary files, and an earlier file at the
target stays as it was. A full disk (or no permission) is a `pconv.utils.WriteFailedError`
naming the file, not a broken download.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import urllib.error
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch.hub

from pconv.utils import fsync_folder, is_write_failure, process_alive, writing

__all__ = ["CONNECT_TIMEOUT", "DownloadError", "sha256_of", "fetch"]

CONNECT_TIMEOUT = 10.0  # seconds to connect, and to wait for each read: offline fails in seconds
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A file could not be fetched, or does not have the expected SHA-256."""


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, as 64 hex digits (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _clean_stale_parts(dest: Path) -> None:
    """Delete `.NAME.part-PID[...]` files that processes which no longer run left behind."""
    for part in dest.parent.glob(f".{dest.name}.part-*"):
        pid = part.name[len(dest.name) + 7 :].split(".", 1)[0]  # after ".NAME.part-"
        if not pid.isdigit() or not process_alive(int(pid)):  # another user's running process keeps its file
            part.unlink(missing_ok=True)


@contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """The socket module's default timeout inside the block (urlopen without `timeout=` uses it)."""
    before = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(before)


def _transfer(url: str, to: Path, timeout: float, progress: bool) -> None:
    """`torch.hub.download_url_to_file` with its errors as `DownloadError` (write failures pass through)."""
    try:
        with _socket_timeout(timeout):
            torch.hub.download_url_to_file(url, str(to), hash_prefix=None, progress=progress)
    except urllib.error.HTTPError as e:
        raise DownloadError(f"the server answered {e.code} {e.reason}") from None
    except urllib.error.URLError as e:
        raise DownloadError(f"cannot connect ({e.reason})") from None
    except ValueError as e:  # urlopen: unknown URL type
        raise DownloadError(f"cannot connect ({e})") from None
    except (http.client.HTTPException, OSError) as e:  # reset, timeout, IncompleteRead of a chunked reply
        if isinstance(e, OSError) and is_write_failure(e):
            raise  # the disk, not the network: `writing` names the file
        raise DownloadError(f"the download broke off ({type(e).__name__}: {e})") from None


def fetch(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256_prefix: str | None = None,
    check: Callable[[Path], None] | None = None,
    timeout: float = CONNECT_TIMEOUT,
    progress: bool = True,
) -> str:
    """Download `url` to `dest` atomically, check it, and return its SHA-256.

    Args:
        url: http(s):// or file:// address.
        dest: the target file; its folder is created. An existing file is replaced only by
            a complete, checked download.
        sha256_prefix: hex digits the file's SHA-256 must start with (a full digest is its own
            prefix); None: not compared. Without it or `check`, a transfer cut short before
            the announced length is not noticed (see the module header).
        check: called with the downloaded file (under a temporary name) before the hash is
            compared; it raises to refuse the file, which is then deleted.
        timeout: seconds to connect and to wait for each read.
        progress: show a progress bar over bytes (on stderr).

    Raises:
        DownloadError: no connection (the reason given), an HTTP error, a download broken
            off, or a SHA-256 that does not start with `sha256_prefix` (the download is deleted).
        WriteFailedError: the file could not be written (full disk, permissions).
        Whatever `check` raises.
    """
    dest = Path(dest)
    with writing(dest, "download"):
        dest.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_parts(dest)
    staged = dest.with_name(f".{dest.name}.part-{os.getpid()}")
    try:
        with writing(dest, "download"):
            _transfer(url, staged, timeout, progress)
        if check is not None:
            check(staged)
        got, want = sha256_of(staged), (sha256_prefix or "").lower()
        if not got.startswith(want):
            raise DownloadError(
                f"the downloaded file's SHA-256 is {got}, not the expected prefix {want} (a different file, or one "
                "cut short); the download was deleted"
            )
        with writing(dest, "download"):
            with open(staged, "rb") as f:
                os.fsync(f.fileno())
            os.replace(staged, dest)
        fsync_folder(dest.parent)
        return got
    finally:
        staged.unlink(missing_ok=True)  # after a failure; a success renamed it away already
