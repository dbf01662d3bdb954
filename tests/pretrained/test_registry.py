"""pconv.pretrained.registry and .download, offline: the registry, the cached hash-checked download (file://, a
closed port and a local HTTP server on 127.0.0.1 stand in for the network), and every way a
download can be bad. The real checkpoints are never fetched. Reading the files themselves:
tests/pretrained/test_loading.py."""

from __future__ import annotations

import http.server
import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest
import torch
from source_nets import (
    float32,
    images_and_masks,
    naoto_file,
    naoto_state_dict,
    register,
)

from pconv.pretrained import PRETRAINED, PretrainedError, cache_path, cached, from_state_dict, load_pretrained
from pconv.pretrained import registry as pt
from pconv.pretrained.download import fetch, sha256_of


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def same_output(a, b) -> bool:
    image, mask = images_and_masks(2, 32)
    image, mask = image.float(), mask.float()
    with torch.no_grad():
        return torch.equal(a(image, mask)[0], b(image, mask)[0])


# ---- the registry ----------------------------------------------------------------------------
def test_registry_records_the_sources():
    assert list(PRETRAINED)[:3] == ["naoto-places2", "mmagic-places2", "mmagic-celeba"]
    for name, entry in PRETRAINED.items():
        assert entry.url.startswith("https://") and entry.filename.endswith(".pth"), name
        assert entry.source in ("naoto", "mmagic") and entry.resolution == 256 and entry.layers == 7
        assert entry.license and entry.citation.startswith("@inproceedings{liu2018image") and entry.page
        if entry.source == "mmagic":  # the 8 hex digits before .pth are the start of the SHA-256
            assert entry.sha256 is None and entry.filename.endswith(f"-{entry.sha256_prefix}.pth")
            assert re.fullmatch(r"[0-9a-f]{8}", entry.sha256_prefix)
    assert PRETRAINED["naoto-places2"].filename == "1000000.pth" and not PRETRAINED["naoto-places2"].published
    assert PRETRAINED["mmagic-places2"].published == {"psnr": 22.762, "ssim": 0.801, "l1": 8.776}
    assert PRETRAINED["mmagic-celeba"].published == {"psnr": 25.404, "ssim": 0.853, "l1": 5.990}
    assert cached() == []


# ---- downloads ---------------------------------------------------------------------------------
def test_download_once_into_the_cache_and_load(monkeypatch, tmp_path, data):
    src = naoto_file(tmp_path / "1000000.pth")
    register(monkeypatch, "test-naoto", src, sha256=sha256_of(src))
    model = load_pretrained("test-naoto")
    assert not model.training and model.layers == 4
    assert cache_path("test-naoto") == data / "pretrained" / "test-naoto" / "1000000.pth"
    assert cache_path("test-naoto").read_bytes() == src.read_bytes() and cached() == ["test-naoto"]
    assert leftovers(data) == ["1000000.pth"]  # no temporary file left

    def offline(*args, **kwargs):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(pt, "fetch", offline)
    assert same_output(load_pretrained("test-naoto"), from_state_dict(float32(naoto_state_dict(4))))


def test_a_hash_mismatch_deletes_the_download_and_says_so(monkeypatch, tmp_path, data):
    src = naoto_file(tmp_path / "1000000.pth")
    register(monkeypatch, "test-naoto", src, sha256_prefix="00000000")
    with pytest.raises(PretrainedError, match=r"test-naoto.*SHA-256 is [0-9a-f]{64}, not the expected prefix 00000000"):
        load_pretrained("test-naoto")
    assert leftovers(data) == [] and cached() == []


def test_a_wrong_file_in_the_cache_is_deleted_and_said_so(monkeypatch, tmp_path):
    src = naoto_file(tmp_path / "1000000.pth")
    register(monkeypatch, "test-naoto", src, sha256_prefix=sha256_of(src)[:8])
    cache_path("test-naoto").parent.mkdir(parents=True)
    cache_path("test-naoto").write_bytes(b"a file downloaded by hand, but not this one")
    with pytest.raises(
        PretrainedError, match="is not test-naoto's file.*it was deleted.*pretrained download test-naoto"
    ):
        load_pretrained("test-naoto")
    assert not cache_path("test-naoto").exists()
    src.rename(cache_path("test-naoto"))  # the right file, put there by hand, is accepted
    assert load_pretrained("test-naoto").layers == 4


def test_a_broken_cached_file_without_a_hash_says_to_delete_it(monkeypatch, tmp_path):
    register(monkeypatch, "test-naoto", naoto_file(tmp_path / "1000000.pth"))  # no hash, as naoto's
    cache_path("test-naoto").parent.mkdir(parents=True)
    cache_path("test-naoto").write_bytes(b"\x80\x02}q\x00")  # a pickle cut short
    with pytest.raises(PretrainedError, match="truncated or corrupt.*delete that cached file.*download test-naoto"):
        load_pretrained("test-naoto")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on leaving: nothing listens there


def test_offline_fails_in_seconds_naming_the_model_url_and_where_to_put_the_file(monkeypatch, data):
    url = f"http://127.0.0.1:{free_port()}/1000000.pth"
    register(monkeypatch, "test-naoto", None, url=url)
    start = time.monotonic()
    with pytest.raises(PretrainedError) as err:
        load_pretrained("test-naoto")
    assert time.monotonic() - start < 60  # a refused connection; offline, the connect timeout bounds it
    text = str(err.value)
    assert "cannot download test-naoto from " + url in text and "cannot connect" in text
    assert f"put it at {cache_path('test-naoto')}" in text
    assert leftovers(data) == []


class Server:
    """A local HTTP server for one file: `body` is served with a Content-Length of `length` bytes."""

    def __init__(self, body: bytes, length: int | None = None, status: int = 200):
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                self.send_response(status)
                self.send_header("Content-Length", str(outer.length))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args):
                pass

        self.body, self.length = body, len(body) if length is None else length
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/file.pth"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_http_download_truncated_wrong_or_missing(monkeypatch, tmp_path, data):
    body = naoto_file(tmp_path / "x.pth").read_bytes()
    digest = sha256_of(tmp_path / "x.pth")
    with Server(body[: len(body) // 2], length=len(body)) as server:  # the connection drops half-way
        register(monkeypatch, "test-naoto", None, url=server.url, sha256=digest)
        with pytest.raises(PretrainedError, match=rf"cut short: {len(body) // 2} of {len(body)} bytes"):
            load_pretrained("test-naoto")
    assert leftovers(data) == []
    with Server(b"<html>moved</html>") as server:  # a page where the file should be
        register(monkeypatch, "test-naoto", None, url=server.url, sha256=digest)
        with pytest.raises(PretrainedError, match="not the expected one"):
            load_pretrained("test-naoto")
    with Server(b"", status=404) as server:
        register(monkeypatch, "test-naoto", None, url=server.url, sha256=digest)
        with pytest.raises(PretrainedError, match="the server answered 404"):
            load_pretrained("test-naoto")
    assert leftovers(data) == []
    with Server(body) as server:
        register(monkeypatch, "test-naoto", None, url=server.url, sha256=digest)
        assert load_pretrained("test-naoto").layers == 4
    assert cached() == ["test-naoto"]


def test_an_interrupted_download_leaves_nothing_and_stale_parts_are_cleared(monkeypatch, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3000))
    dest = tmp_path / "cache" / "file.bin"
    dest.parent.mkdir()
    stale = dest.with_name(".file.bin.part-999999999")  # from a process that no longer runs
    stale.write_bytes(b"half")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        fetch(src.as_uri(), dest, progress=False)
    assert leftovers(dest.parent) == []
    monkeypatch.undo()
    assert fetch(src.as_uri(), dest, progress=False) == sha256_of(src) and dest.read_bytes() == src.read_bytes()
