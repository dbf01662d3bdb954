"""pconv.pretrained.download: `fetch` on top of torch.hub.download_url_to_file, offline (file:// and servers
on 127.0.0.1). A download never reaches its target unless it is checked and complete; an earlier file
stays intact; a full disk is a write failure naming the file, not a broken download."""

from __future__ import annotations

import errno
import http.server
import os
import socket
import threading
import time
from pathlib import Path

import pytest
import torch.hub

from pconv.pretrained import download as fetch_mod
from pconv.pretrained.download import DownloadError, fetch, sha256_of
from pconv.utils import WriteFailedError


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


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


def test_a_chunked_download_broken_off_is_an_error_and_leaves_nothing(tmp_path):
    server = CutOff(sent=5000, length=20000, chunked=True)
    with pytest.raises(DownloadError, match="the download broke off.*IncompleteRead"):
        fetch(server.url, tmp_path / "f.bin", progress=False, timeout=5)
    assert leftovers(tmp_path) == []


def test_a_download_cut_short_never_reaches_the_target_when_it_is_checked(tmp_path):
    """http.client returns what came when a Content-Length reply is cut (the module header): the hash or
    `check` catches it before the rename, and the earlier file stays."""
    dest = tmp_path / "f.bin"
    dest.write_bytes(b"the earlier file")
    server = CutOff(sent=5000, length=20000)
    with pytest.raises(DownloadError, match=r"SHA-256 is [0-9a-f]{64}, not the expected prefix 0123abcd"):
        fetch(server.url, dest, sha256_prefix="0123ABCD", progress=False, timeout=5)
    seen = []

    def refuse(path: Path) -> None:
        seen.append(path.stat().st_size)
        raise ValueError(f"{path.stat().st_size} bytes is not the whole file")

    server = CutOff(sent=5000, length=20000)
    with pytest.raises(ValueError, match="5000 bytes"):
        fetch(server.url, dest, check=refuse, progress=False, timeout=5)
    assert seen == [5000] and dest.read_bytes() == b"the earlier file" and leftovers(tmp_path) == ["f.bin"]


def test_the_check_sees_the_file_before_the_hash_and_a_passing_file_is_renamed_into_place(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3000))
    order = []
    dest = tmp_path / "cache" / "f.bin"
    got = fetch(src.as_uri(), dest, sha256_prefix=sha256_of(src)[:8], check=order.append, progress=False)
    assert got == sha256_of(src) and dest.read_bytes() == src.read_bytes()
    assert len(order) == 1 and order[0].parent == dest.parent and order[0].name.startswith(".f.bin.part-")
    assert leftovers(dest.parent) == ["f.bin"]


class Recorder(http.server.BaseHTTPRequestHandler):
    agents: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        Recorder.agents.append(self.headers.get("User-Agent", ""))
        body = b"some bytes"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_request_carries_torch_hubs_user_agent(tmp_path):
    """urllib's default "Python-urllib/3.x" is refused by some hosts."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        fetch(f"http://127.0.0.1:{httpd.server_address[1]}/x", tmp_path / "x", progress=False)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert Recorder.agents == ["torch.hub"] and (tmp_path / "x").read_bytes() == b"some bytes"


def test_a_silent_server_times_out_and_the_default_timeout_is_restored(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)  # accepts the connection (the kernel does) and never answers
    before = socket.getdefaulttimeout()
    start = time.monotonic()
    with sock, pytest.raises(DownloadError, match="timed out"):
        fetch(f"http://127.0.0.1:{sock.getsockname()[1]}/f", tmp_path / "f", timeout=0.5, progress=False)
    assert time.monotonic() - start < 10 and socket.getdefaulttimeout() == before
    assert leftovers(tmp_path) == []


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


def test_a_disk_that_fills_during_the_transfer_is_a_write_failure(tmp_path, monkeypatch):
    """The bytes are written by torch.hub.download_url_to_file: its ENOSPC is still named as the disk's."""
    src = tmp_path / "src.bin"
    src.write_bytes(b"new" * 1000)
    dest = tmp_path / "cache" / "file.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"the earlier download")

    class Full:
        def __init__(self, name, mode):
            self.name, self.f = name, open(name, mode)  # noqa: SIM115

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def close(self):
            self.f.close()

    monkeypatch.setattr(torch.hub, "open", Full, raising=False)  # torch.hub's own open(), not the builtin
    with pytest.raises(WriteFailedError, match=r"could not write download .*file\.bin: No space left"):
        fetch(src.as_uri(), dest, progress=False)
    assert dest.read_bytes() == b"the earlier download" and leftovers(dest.parent) == ["file.bin"]


def test_an_interrupted_download_leaves_nothing_and_stale_parts_are_cleared(monkeypatch, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3000))
    dest = tmp_path / "cache" / "file.bin"
    dest.parent.mkdir()
    gone = 999999999  # a process that no longer runs
    stale = [dest.with_name(f".file.bin.part-{gone}"), dest.with_name(f".file.bin.part-{gone}.0a1b.partial")]
    alive = dest.with_name(f".file.bin.part-{os.getppid()}.0a1b.partial")  # another running process's download
    for part in [*stale, alive]:
        part.write_bytes(b"half")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch(src.as_uri(), dest, progress=False)
    assert leftovers(dest.parent) == [alive.name]
    monkeypatch.undo()
    assert fetch(src.as_uri(), dest, progress=False) == sha256_of(src) and dest.read_bytes() == src.read_bytes()


@pytest.mark.parametrize(
    ("url", "needle"),
    [("file:///no/such/file.pth", "cannot connect"), ("nope://x/f.pth", "cannot connect.*unknown url type")],
)
def test_a_bad_address_is_a_download_error(tmp_path, url, needle):
    with pytest.raises(DownloadError, match=needle):
        fetch(url, tmp_path / "f.pth", progress=False)
    assert leftovers(tmp_path) == []
