"""pconv.pretrained.cache, offline: where each model's file goes, whether the one there is valid (hash, or
layout and depth), what a bad one is named as, and the checked download (file:// URLs and a local HTTP
server on 127.0.0.1 stand in for the network; the real checkpoints are never fetched). Registry entries
for files made here (tests/source_nets.py `register`) stand in for the public ones."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import torch
from source_nets import float32, images_and_masks, mmagic_file, naoto_file, naoto_state_dict, register

from pconv.nn import PConvUNet
from pconv.pretrained import (
    PretrainedError,
    cache_path,
    cache_state,
    cached,
    download_pretrained,
    from_state_dict,
    load_pretrained,
)
from pconv.pretrained import cache as cache_mod
from pconv.pretrained.download import sha256_of
from pconv.train import model_info, save_checkpoint

HTML = b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body>Dropbox - Sign in</body></html>\n"


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """The sources' files, made once: naoto0804's (layers 4 and 5) and mmagic's (layers 4)."""
    d = tmp_path_factory.mktemp("sources")
    return {
        "naoto": naoto_file(d / "1000000.pth"),
        "naoto5": naoto_file(d / "naoto5.pth", layers=5),
        "mmagic": mmagic_file(d / "pconv_mmagic-0123abcd.pth"),
    }


def put(src: Path, name: str, filename: str | None = None) -> Path:
    """Copy a file into `name`'s cache folder (as a user would), under `filename` or its own name."""
    dest = cache_mod.folder(name) / (filename or src.name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return dest


def naoto_entry(monkeypatch, sources, name="test-naoto"):
    """Like naoto-places2: no hash, file name not published."""
    return register(monkeypatch, name, sources["naoto"], name_published=False)


def mmagic_entry(monkeypatch, sources, name="test-mmagic"):
    """Like mmagic-*: a SHA-256 prefix in the file name."""
    src = sources["mmagic"]
    return register(monkeypatch, name, src, source="mmagic", sha256_prefix=sha256_of(src)[:8])


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def same_output(a, b) -> bool:
    image, mask = images_and_masks(2, 32)
    with torch.no_grad():
        return torch.equal(a(image.float(), mask.float())[0], b(image.float(), mask.float())[0])


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
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/1000000.pth"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


# ---- valid files ------------------------------------------------------------------------------
def test_download_once_into_the_cache_and_load(monkeypatch, sources, data):
    src = sources["naoto"]
    register(monkeypatch, "test-naoto", src, sha256=sha256_of(src))
    assert cached() == [] and not cache_state("test-naoto").present
    model = load_pretrained("test-naoto")
    assert not model.training and model.layers == 4
    assert cache_path("test-naoto") == data / "pretrained" / "test-naoto" / "1000000.pth"
    assert cache_path("test-naoto").read_bytes() == src.read_bytes() and cached() == ["test-naoto"]
    assert leftovers(data) == ["1000000.pth"]  # no temporary file left

    def offline(*args, **kwargs):
        raise AssertionError("downloaded again")

    monkeypatch.setattr(cache_mod, "fetch", offline)
    assert same_output(load_pretrained("test-naoto"), from_state_dict(float32(naoto_state_dict(4))))


def test_a_valid_file_is_listed_as_valid(monkeypatch, sources):
    mmagic_entry(monkeypatch, sources)
    naoto_entry(monkeypatch, sources)
    put(sources["mmagic"], "test-mmagic")
    put(sources["naoto"], "test-naoto")
    for name in ("test-mmagic", "test-naoto"):
        state = cache_state(name)
        assert state.valid and state.present and state.problem == "" and state.path == cache_path(name), name
    assert set(cached()) >= {"test-mmagic", "test-naoto"}


def test_a_file_without_a_published_name_is_taken_under_any_name(monkeypatch, sources, data):
    naoto_entry(monkeypatch, sources)
    folder = data / "pretrained" / "test-naoto"
    assert cache_path("test-naoto") == folder / "1000000.pth"  # where the download would put it
    assert "holds no .pth or .pt file" in cache_state("test-naoto").problem
    (folder / "notes.txt").write_text("where I got it") if folder.is_dir() else None
    mine = put(sources["naoto"], "test-naoto", "naoto_places2_from_drive.pt")
    assert cache_path("test-naoto") == mine and cache_state("test-naoto").valid and cached() == ["test-naoto"]
    assert download_pretrained("test-naoto") == mine
    assert same_output(load_pretrained("test-naoto"), load_pretrained(mine))
    second = put(sources["naoto"], "test-naoto", "copy.pth")
    state = cache_state("test-naoto")
    assert not state.valid and state.present and state.path == folder
    assert f"{folder} holds 2 checkpoint files (copy.pth, naoto_places2_from_drive.pt)" in state.problem
    with pytest.raises(PretrainedError, match="holds 2 checkpoint files.*keep only test-naoto's there"):
        load_pretrained("test-naoto")
    second.unlink()
    assert cache_state("test-naoto").valid


def test_a_published_name_must_be_exact(monkeypatch, sources, data):
    mmagic_entry(monkeypatch, sources)
    folder = data / "pretrained" / "test-mmagic"
    renamed = put(sources["mmagic"], "test-mmagic", "renamed.pth")
    state = cache_state("test-mmagic")
    assert state.present and not state.valid and state.path == renamed and cached() == []
    assert state.problem.startswith(
        f"{folder} holds renamed.pth, but test-mmagic's file must be named pconv_mmagic-0123abcd.pth: if it is "
        f"test-mmagic's file, rename it to {folder / 'pconv_mmagic-0123abcd.pth'}"
    )
    renamed.rename(folder / "pconv_mmagic-0123abcd.pth")
    assert cache_state("test-mmagic").valid


# ---- what a bad file is named as ----------------------------------------------------------------
@pytest.mark.parametrize("kind", ["no hash", "hash"])
def test_an_html_page_in_the_slot_is_named_and_never_cached(monkeypatch, sources, kind):
    entry = naoto_entry(monkeypatch, sources) if kind == "no hash" else mmagic_entry(monkeypatch, sources)
    name = "test-naoto" if kind == "no hash" else "test-mmagic"
    page = cache_mod.folder(name) / (entry.filename)
    page.parent.mkdir(parents=True)
    page.write_bytes(HTML)
    state = cache_state(name)
    assert state.present and not state.valid and name not in cached()
    assert state.problem.startswith(
        f"{page} is an HTML page, not a checkpoint: the download was probably redirected to a login or error page"
    )
    assert f"delete it and run `python -m pconv pretrained download {name}`" in state.problem
    for call in (lambda: download_pretrained(name), lambda: load_pretrained(name)):
        with pytest.raises(PretrainedError, match=f"{page} is an HTML page, not a checkpoint"):
            call()
    assert page.read_bytes() == HTML  # kept: nothing here deletes a file the user put there


def test_an_mmagic_file_in_naotos_slot_says_whose_it_is(monkeypatch, sources):
    naoto_entry(monkeypatch, sources)
    wrong = put(sources["mmagic"], "test-naoto")
    problem = cache_state("test-naoto").problem
    assert problem.startswith(f"{wrong} is not test-naoto's file. It holds a network in mmagic's layout (layers=4)")
    assert "move it to that model's folder" in problem and "source=" not in problem
    mmagic_entry(monkeypatch, sources)  # now the file's hash is a registered model's: it is named
    problem = cache_state("test-naoto").problem
    target = cache_mod.folder("test-mmagic") / "pconv_mmagic-0123abcd.pth"
    whose = f"It is test-mmagic's file: move it to {target} and load it as 'test-mmagic'"
    assert problem == f"{wrong} is not test-naoto's file. {whose}"
    with pytest.raises(PretrainedError, match="It is test-mmagic's file") as e:
        load_pretrained("test-naoto")
    assert "source=" not in str(e.value)
    target.parent.mkdir(parents=True)
    wrong.rename(target)
    assert cache_state("test-mmagic").valid and not cache_state("test-naoto").present


def test_a_naoto_file_in_an_mmagic_slot_says_whose_it_is(monkeypatch, sources):
    mmagic_entry(monkeypatch, sources)
    naoto_entry(monkeypatch, sources)
    wrong = put(sources["naoto"], "test-mmagic", "pconv_mmagic-0123abcd.pth")
    problem = cache_state("test-mmagic").problem
    digest = sha256_of(sources["naoto"])
    assert problem.startswith(
        f"{wrong} is not test-mmagic's file: its SHA-256 is {digest}, and test-mmagic's starts with "
        f"{sha256_of(sources['mmagic'])[:8]}. It holds a network in naoto's layout (layers=4), the layout of "
        "naoto-places2 and test-naoto"
    )
    assert "move it to that model's folder" in problem and "source=" not in problem
    with pytest.raises(PretrainedError, match="not test-mmagic's file"):
        download_pretrained("test-mmagic")
    assert wrong.is_file()


def test_a_pconv_checkpoint_in_a_slot_says_to_load_it_by_its_path(monkeypatch, sources, tmp_path):
    naoto_entry(monkeypatch, sources)
    model = PConvUNet(layers=3, base_channels=8)
    ckpt = save_checkpoint(
        {"step": 5, "model": model.state_dict(), "config": {"model": model_info(model)}}, tmp_path / "best.pt"
    )
    put(ckpt, "test-naoto")
    assert "It is a checkpoint of a network trained with pconv" in cache_state("test-naoto").problem


def test_other_depth_corrupt_and_another_version(monkeypatch, sources, tmp_path):
    naoto_entry(monkeypatch, sources)
    deeper = put(sources["naoto5"], "test-naoto")
    assert "It holds a layers=5 network, and test-naoto is layers=4" in cache_state("test-naoto").problem
    deeper.unlink()
    whole = sources["naoto"].read_bytes()
    cut = cache_mod.folder("test-naoto") / "1000000.pth"
    cut.write_bytes(whole[: len(whole) // 2])  # PyTorch 0.4's format, cut: only torch.load finds out
    problem = cache_state("test-naoto").problem
    assert problem.startswith(f"{cut} is truncated or corrupt and cannot be read")
    assert problem.endswith(
        f"put it into {cache_mod.folder('test-naoto')}/ under any name ending in .pth or .pt (its file name is not "
        "published)"
    )
    # A hashed entry whose file is in its layout and depth, but not the published one.
    other = mmagic_file(tmp_path / "retrained.pth", meta={"iter": 1})
    register(
        monkeypatch, "test-mmagic", sources["mmagic"], source="mmagic", sha256_prefix=sha256_of(sources["mmagic"])[:8]
    )
    put(other, "test-mmagic", "pconv_mmagic-0123abcd.pth")
    assert (
        "It holds a network in test-mmagic's layout, but not the published file" in cache_state("test-mmagic").problem
    )


def test_a_replaced_file_is_checked_again(monkeypatch, sources):
    naoto_entry(monkeypatch, sources)
    path = put(sources["naoto"], "test-naoto")
    assert cache_state("test-naoto").valid
    path.write_bytes(HTML)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert "is an HTML page" in cache_state("test-naoto").problem


# ---- downloads ----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["no hash", "hash"])
def test_an_html_page_served_for_the_file_is_named_and_nothing_is_saved(monkeypatch, sources, data, kind):
    with Server(HTML) as server:
        if kind == "hash":
            register(monkeypatch, "test-x", None, url=server.url, source="mmagic", sha256_prefix="0123abcd")
        else:
            register(monkeypatch, "test-x", None, url=server.url, name_published=False)
        with pytest.raises(PretrainedError) as e:
            download_pretrained("test-x")
    assert str(e.value).startswith(
        f"the file downloaded from {server.url} is an HTML page, not a checkpoint: the download was probably "
        "redirected to a login or error page"
    )
    assert "nothing was saved. Download it in a browser from test and put it " in str(e.value)
    assert leftovers(data) == [] and cached() == [] and not cache_state("test-x").present


def test_a_download_of_another_model_is_refused_without_a_hash(monkeypatch, sources, data):
    register(monkeypatch, "test-naoto", sources["mmagic"], name_published=False)  # the URL serves mmagic's file
    with pytest.raises(PretrainedError) as e:
        load_pretrained("test-naoto")
    assert str(e.value).startswith(
        f"the file downloaded from {sources['mmagic'].as_uri()} is not test-naoto's file: it holds a network in "
        "mmagic's layout with layers=4; nothing was saved"
    )
    assert leftovers(data) == []


def test_http_download_truncated_wrong_or_missing(monkeypatch, sources, data):
    body = mmagic_file(data.parent / "zip.pth").read_bytes()  # torch's zip format
    digest = sha256_of(data.parent / "zip.pth")
    with Server(body[: len(body) // 2], length=len(body)) as server:  # the connection drops half-way
        register(monkeypatch, "test-x", None, url=server.url, source="mmagic", name_published=False)
        with pytest.raises(
            PretrainedError, match=r"downloaded from .* is truncated: a PyTorch checkpoint whose end is missing"
        ):
            load_pretrained("test-x")
        register(monkeypatch, "test-x", None, url=server.url, source="mmagic", sha256=digest)
        with pytest.raises(PretrainedError, match="truncated"):
            load_pretrained("test-x")
    with Server(body) as server:
        register(monkeypatch, "test-x", None, url=server.url, source="mmagic", sha256_prefix="0000")
        with pytest.raises(PretrainedError, match=r"SHA-256 is [0-9a-f]{64}, not the expected prefix 0000"):
            load_pretrained("test-x")
    with Server(b"", status=404) as server:
        register(monkeypatch, "test-x", None, url=server.url, source="mmagic", sha256=digest)
        with pytest.raises(PretrainedError, match="the server answered 404"):
            load_pretrained("test-x")
    assert leftovers(data / "pretrained") == []
    with Server(body) as server:
        register(monkeypatch, "test-x", None, url=server.url, source="mmagic", sha256=digest)
        assert load_pretrained("test-x").layers == 4
    assert cached() == ["test-x"]


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


def test_a_name_loads_only_as_its_own_source(monkeypatch, sources):
    naoto_entry(monkeypatch, sources)
    with pytest.raises(PretrainedError, match="test-naoto is a naoto checkpoint, so source='mmagic' does not apply"):
        load_pretrained("test-naoto", source="mmagic")
    assert load_pretrained("test-naoto", source="naoto").layers == 4
