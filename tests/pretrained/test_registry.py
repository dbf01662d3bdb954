"""pconv.pretrained.registry and .download, offline: the registry, the cached hash-checked download (file://, a
closed port and a local HTTP server on 127.0.0.1 stand in for the network), the files the sources
save, and every way a file or a download can be bad. The real checkpoints are never fetched."""

from __future__ import annotations

import fractions
import http.server
import os
import pickle
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
    mmagic_file,
    mmagic_state_dict,
    naoto_file,
    naoto_state_dict,
    register,
)

from pconv.nn import PConvUNet, UNet
from pconv.pretrained import PRETRAINED, PretrainedError, cache_path, cached, from_state_dict, load_pretrained
from pconv.pretrained import registry as pt
from pconv.pretrained.download import fetch, sha256_of
from pconv.train import model_info, save_checkpoint


@pytest.fixture(autouse=True)
def data(tmp_path, monkeypatch):
    """A fresh PCONV_DATA_DIR per test: caches never leak between tests."""
    monkeypatch.setenv("PCONV_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


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


# ---- the sources' files ------------------------------------------------------------------------
@pytest.mark.parametrize("legacy", [True, False], ids=["pytorch-0.4-format", "zip-format"])
def test_naoto_file_loads_with_weights_only(tmp_path, legacy):
    path = naoto_file(tmp_path / "1000000.pth", legacy=legacy)
    model = load_pretrained(path)
    assert same_output(model, from_state_dict(float32(naoto_state_dict(4))))
    assert not model.training and next(model.parameters()).device.type == "cpu"


@pytest.mark.parametrize("prefix", [True, False])
def test_mmagic_file_loads_with_or_without_the_generator_prefix(tmp_path, prefix):
    model = load_pretrained(mmagic_file(tmp_path / "pconv.pth", prefix=prefix), source="mmagic")
    assert same_output(model, from_state_dict(float32(mmagic_state_dict(4))))


def test_pconv_checkpoint_keeps_its_config(tmp_path):
    model = PConvUNet(layers=3, base_channels=8, normalize=((0.4, 0.5, 0.6), 0.25))
    ckpt = {"step": 7, "model": model.state_dict(), "config": {"model": model_info(model), "task": "inpainting"}}
    again = load_pretrained(save_checkpoint(ckpt, tmp_path / "best.pt"))
    assert again.config == model.config and same_output(again, model.eval())
    bare = tmp_path / "bare.pt"
    torch.save(model.state_dict(), bare)  # a bare state dict: the paper's network, no normalisation recorded
    assert load_pretrained(bare, source="pconv").config["normalize"] is None


# ---- security ----------------------------------------------------------------------------------
class Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))  # unpickling creates the marker file


def test_a_pickle_that_runs_code_is_never_run(monkeypatch, tmp_path):
    marker = tmp_path / "pwned"
    as_torch, as_pickle = tmp_path / "evil.pth", tmp_path / "evil.pkl"
    torch.save({"state_dict": mmagic_state_dict(4), "meta": Evil(marker)}, as_torch)
    as_pickle.write_bytes(pickle.dumps({"meta": Evil(marker)}))
    with pytest.raises(PretrainedError, match=r"evil\.pth refers to the Python object [\w.]*open.*can run any code"):
        load_pretrained(as_torch)
    with pytest.raises(PretrainedError, match=r"evil\.pkl is not a PyTorch checkpoint"):
        load_pretrained(as_pickle)
    # By name, with the file's hash prefix registered: a prefix never makes a file trusted.
    register(monkeypatch, "test-evil", as_torch, source="mmagic", sha256_prefix=sha256_of(as_torch)[:8])
    with pytest.raises(PretrainedError, match="refers to the Python object"):
        load_pretrained("test-evil")
    assert not marker.exists()


def test_full_unpickling_only_for_a_registered_full_hash(monkeypatch, tmp_path):
    path = mmagic_file(tmp_path / "with-meta.pth", meta={"ratio": fractions.Fraction(1, 3)})
    with pytest.raises(PretrainedError, match=r"fractions\.Fraction.*this file's \([0-9a-f]{64}\) is none"):
        load_pretrained(path)
    register(monkeypatch, "test-trusted", path, source="mmagic", sha256=sha256_of(path))
    assert same_output(load_pretrained(path), from_state_dict(float32(mmagic_state_dict(4))))
    assert load_pretrained("test-trusted").layers == 4


# ---- bad input -----------------------------------------------------------------------------------
def test_bad_files_name_the_file_and_what_to_do(tmp_path):
    garbage, truncated, empty = tmp_path / "garbage.pth", tmp_path / "truncated.pth", tmp_path / "empty.pth"
    garbage.write_bytes(b"GIF89a, not a torch file " * 80)  # fixed bytes: random ones may parse as a pickle
    whole = mmagic_file(tmp_path / "whole.pth").read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    empty.write_bytes(b"")
    for path, needle in [
        (garbage, "garbage.pth is not a PyTorch checkpoint, or it is corrupt"),
        (truncated, "truncated.pth is truncated or corrupt.*download it again"),
        (empty, "empty.pth is truncated or corrupt"),
        (tmp_path / "nope.pth", "nope.pth is not there; pass a checkpoint file"),
        (tmp_path, "is a folder, not a file"),
    ]:
        with pytest.raises(PretrainedError, match=needle):
            load_pretrained(path)


def test_wrong_names_sources_and_architectures(monkeypatch, tmp_path):
    with pytest.raises(
        PretrainedError, match="no pretrained model named 'naoto-places' and no such file; known: naoto"
    ):
        load_pretrained("naoto-places")
    with pytest.raises(PretrainedError, match="source must be one of naoto, mmagic, pconv"):
        load_pretrained("naoto-places2", source="nvidia")
    path = naoto_file(tmp_path / "1000000.pth")
    with pytest.raises(PretrainedError, match=r"1000000\.pth: the state dict is not in the mmagic layout.*'naoto'"):
        load_pretrained(path, source="mmagic")
    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.ones(1), "fc.weight": torch.ones(1)}, other)
    with pytest.raises(PretrainedError, match=r"resnet\.pth: the state dict is in no layout.*conv1\.weight"):
        load_pretrained(other)
    unet = UNet(features=(4, 8))
    seg = {"step": 1, "model": unet.state_dict(), "config": {"model": model_info(unet), "task": "segmentation"}}
    with pytest.raises(PretrainedError, match=r"seg\.pt holds a UNet, not an inpainting PConvUNet"):
        load_pretrained(save_checkpoint(seg, tmp_path / "seg.pt"))
    # A registered name whose file holds another depth (layers=5 where the entry says 4).
    deeper = naoto_file(tmp_path / "deeper.pth", layers=5)
    register(monkeypatch, "test-naoto", deeper, sha256=sha256_of(deeper))
    with pytest.raises(PretrainedError, match="holds a layers=5 network, but test-naoto is layers=4"):
        load_pretrained("test-naoto")
    if not torch.cuda.is_available():
        with pytest.raises(PretrainedError, match="CUDA is not available"):
            load_pretrained(path, device="cuda")


# ---- non-finite weights --------------------------------------------------------------------------
def poison(sd: dict) -> dict:
    used = r"enc_?1\.conv\.(input_conv\.)?weight$|^encoder\.0\.conv\.weight$"  # a weight the model uses
    key = next(k for k in sd if re.search(used, k))
    sd[key] = sd[key].clone()
    sd[key].view(-1)[0] = float("nan")
    return sd


@pytest.mark.parametrize("source", ["naoto", "mmagic", "pconv"])
def test_a_file_with_non_finite_weights_is_refused(tmp_path, source):
    if source == "naoto":
        torch.save({"n_iter": 1, "model": poison(float32(naoto_state_dict(4)))}, tmp_path / "bad.pth")
    elif source == "mmagic":
        torch.save({"meta": {}, "state_dict": poison(float32(mmagic_state_dict(4)))}, tmp_path / "bad.pth")
    else:
        model = PConvUNet(layers=3, base_channels=8)
        ckpt = {"step": 1, "model": poison(model.state_dict()), "config": {"model": model_info(model)}}
        torch.save(ckpt, tmp_path / "bad.pth")
    with pytest.raises(PretrainedError, match=r"bad\.pth.*not finite"):
        load_pretrained(tmp_path / "bad.pth", source=source)


def test_paths_are_resolved_at_the_boundary(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    path = naoto_file(tmp_path / "sub" / "1000000.pth")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    for given in ("sub/1000000.pth", "./sub/1000000.pth", "~/sub/1000000.pth", "sub/../sub/1000000.pth"):
        assert load_pretrained(given).layers == 4, given
    assert same_output(load_pretrained(Path("~") / "sub" / "1000000.pth"), load_pretrained(path))
    with pytest.raises(PretrainedError, match="empty path"):
        load_pretrained("")
