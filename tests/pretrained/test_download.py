"""pconv.pretrained.download: a download never looks complete unless it is.

A full disk is a write failure, not a broken download.
"""

from __future__ import annotations

import errno
import socket
import threading

import pytest

from pconv.pretrained import download as fetch_mod
from pconv.pretrained.download import DownloadError, fetch
from pconv.utils import WriteFailedError


class CutOff:
    """An HTTP server that announces `length` bytes, sends `sent` of them, then closes the connection."""

    def __init__(self, sent: int, length: int, chunked: bool = False):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/f.bin"
        if chunked:
            head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            body = f"{length:x}\r\n".encode() + b"x" * sent
        else:
            head = f"HTTP/1.1 200 OK\r\nContent-Length: {length}\r\n\r\n".encode()
            body = b"x" * sent
        threading.Thread(target=self._serve, args=(head + body,), daemon=True).start()

    def _serve(self, data: bytes) -> None:
        conn, _ = self.sock.accept()
        conn.recv(65536)
        conn.sendall(data)
        conn.close()
        self.sock.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_cut_off_download_counts_the_bytes_that_really_arrived(tmp_path, chunked):
    server = CutOff(sent=5000, length=20000, chunked=chunked)
    with pytest.raises(DownloadError, match=r"\b5000\b") as e:
        fetch(server.url, tmp_path / "f.bin", progress=False, timeout=5)
    assert "after 0 bytes" not in str(e.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS], ids=["enospc", "quota", "read-only"])
def test_a_full_disk_is_a_write_failure_and_the_cached_file_stays(tmp_path, monkeypatch, code):
    src = tmp_path / "src.bin"
    src.write_bytes(b"new" * 1000)
    dest = tmp_path / "cache" / "file.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"the earlier download")
    real_fsync = fetch_mod.os.fsync

    def full(fd):
        raise OSError(code, "no room")

    monkeypatch.setattr(fetch_mod.os, "fsync", full)
    with pytest.raises(WriteFailedError, match="file.bin") as e:
        fetch(src.as_uri(), dest, progress=False)
    assert "broke off" not in str(e.value)
    monkeypatch.setattr(fetch_mod.os, "fsync", real_fsync)
    assert dest.read_bytes() == b"the earlier download"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["file.bin"]  # no .part file left
