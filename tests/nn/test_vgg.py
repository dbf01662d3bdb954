"""Tests for pconv.nn.vgg: the VGG16 feature extractor's weights from a file, the hub cache or the network.

Every path a user meets offline is covered: a missing or corrupt cache, no network, a host that
never answers (bounded, not hung), and the single warning of `InpaintingLoss(vgg="auto")`.
"""

from __future__ import annotations

import os
import socket
import time
import warnings

import pytest
import torch

from pconv.nn import InpaintingLoss, VGG16Features, vgg

# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def fresh_state(monkeypatch, tmp_path):
    """Empty torch hub cache under tmp_path and a clean per-process download/warning memo."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setattr(vgg, "_download_error", None)
    monkeypatch.setattr(vgg, "_warned_no_vgg", False)


@pytest.fixture
def offline(monkeypatch):
    """No network: every connection attempt fails at once. Returns the list of attempted hosts."""
    attempts = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


@pytest.fixture(scope="session")
def vgg_state(tmp_path_factory):
    """A randomly initialised torchvision vgg16 state_dict (the `features.*` part) on disk."""
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    state = {f"features.{k}": v for k, v in make_layers(cfgs["D"]).state_dict().items()}
    state["classifier.6.bias"] = torch.zeros(1000)  # stands in for the head, which must be ignored
    path = tmp_path_factory.mktemp("vgg") / "vgg16_random.pth"
    torch.save(state, path)
    return path, state


def cache_path() -> str:
    from torchvision.models import VGG16_Weights

    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(VGG16_Weights.IMAGENET1K_V1.url))


def batch(n=2, h=16, w=16):
    g = torch.Generator().manual_seed(0)
    output, target = torch.rand(n, 3, h, w, generator=g), torch.rand(n, 3, h, w, generator=g)
    return output, target, (torch.rand(n, 1, h, w, generator=g) > 0.4).float()


# --------------------------------------------------------------------------- loading


def test_auto_offline_warns_once_and_drops_vgg_terms(offline):
    vgg._imagenet_url()  # import torchvision.models outside the timed part
    start = time.monotonic()
    with pytest.warns(UserWarning) as record:
        loss_fn = InpaintingLoss(vgg="auto")
        again = InpaintingLoss(vgg="auto")
    assert time.monotonic() - start < 5  # no hang when offline
    assert len(record) == 1
    assert "perceptual and style" in str(record[0].message) and "TORCH_HOME" in str(record[0].message)
    assert len(offline) == 1  # the failed download is not retried
    assert not loss_fn.uses_vgg and not again.uses_vgg
    terms = loss_fn(*batch())
    assert "perceptual" not in terms and "style" not in terms
    assert torch.allclose(terms["total"], terms["valid"] + 6 * terms["hole"] + 0.1 * terms["tv"])


def test_imagenet_offline_raises_clear_error(offline):
    """Its own type (a RuntimeError, as before), so the CLI can report it as one line with exit 2."""
    with pytest.raises(vgg.VGGWeightsError) as info:
        InpaintingLoss(vgg="imagenet")
    assert isinstance(info.value, RuntimeError)
    msg = str(info.value)
    assert os.path.basename(cache_path()) in msg and os.path.dirname(cache_path()) in msg
    assert "vgg='auto'" in msg and "network" in msg


def test_connect_that_never_answers_is_bounded(monkeypatch):
    monkeypatch.setattr(vgg, "DOWNLOAD_TIMEOUT_S", 0.3)

    def stall(*args, **kwargs):  # a DNS lookup or connect that hangs
        time.sleep(3)
        raise OSError("stalled")

    monkeypatch.setattr(socket, "create_connection", stall)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="no connection"):
        VGG16Features("imagenet")
    assert time.monotonic() - start < 2


def test_server_that_never_responds_is_bounded(monkeypatch):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)  # the kernel completes the handshake; nobody ever answers the request
    try:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/vgg16-397923af.pth"
        monkeypatch.setattr(vgg, "_imagenet_url", lambda: url)
        monkeypatch.setattr(vgg, "DOWNLOAD_TIMEOUT_S", 0.3)
        start = time.monotonic()
        with pytest.raises(RuntimeError, match="downloading"):
            VGG16Features("imagenet")
        assert time.monotonic() - start < 3
    finally:
        server.close()


def test_load_from_path_full_and_features_layouts(vgg_state, tmp_path):
    path, state = vgg_state
    vgg = VGG16Features(path)
    assert torch.equal(vgg.features[14].weight, state["features.14.weight"])  # last conv before pool3
    features_only = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    torch.save(features_only, tmp_path / "features.pth")
    assert torch.equal(VGG16Features(str(tmp_path / "features.pth")).features[0].bias, state["features.0.bias"])
    loss_fn = InpaintingLoss(vgg=path)
    assert loss_fn.uses_vgg and {"perceptual", "style"} <= set(loss_fn(*batch()))


def test_bad_paths_raise(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        VGG16Features(tmp_path / "missing.pth")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="does not hold VGG16 weights"):
        VGG16Features(tmp_path / "other.pth")


def test_unreadable_and_non_state_dict_files_raise(tmp_path):
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(ValueError, match="could not read VGG16 weights from .*text.pth"):
        VGG16Features(tmp_path / "text.pth")
    torch.save([torch.zeros(1)], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="expected a state_dict"):
        VGG16Features(tmp_path / "list.pth")


def test_forward_rejects_images_it_cannot_pool():
    with pytest.raises(ValueError, match=r"\(N, 3, H>=8, W>=8\)"):
        VGG16Features(None)(torch.rand(1, 3, 4, 16))
    with pytest.raises(ValueError, match=r"got \(1, 1, 16, 16\)"):
        VGG16Features(None)(torch.rand(1, 1, 16, 16))


def test_imagenet_and_auto_load_from_hub_cache_offline(vgg_state, offline):
    path, state = vgg_state
    os.makedirs(os.path.dirname(cache_path()))
    os.symlink(path, cache_path())  # torchvision's file name in $TORCH_HOME/hub/checkpoints
    vgg = VGG16Features("imagenet")
    assert torch.equal(vgg.features[2].weight, state["features.2.weight"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert InpaintingLoss(vgg="auto").uses_vgg
    assert offline == []  # the cache was used, the network never


def test_corrupt_cache_file_says_so(offline):
    os.makedirs(os.path.dirname(cache_path()))
    with open(cache_path(), "wb") as f:
        f.write(b"not a checkpoint")
    with pytest.raises(vgg.VGGWeightsError, match="delete or replace"):
        VGG16Features("imagenet")


def test_a_weights_path_with_a_quoted_tilde_or_relative_is_the_users_file(vgg_state, tmp_path, monkeypatch):
    import shutil

    path, state = vgg_state
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    shutil.copy(path, tmp_path / "w.pth")
    for given in ("~/w.pth", "w.pth", "./w.pth"):
        net = VGG16Features(given)
        assert torch.equal(net.features[0].weight, state["features.0.weight"])
    with pytest.raises(FileNotFoundError, match=str(tmp_path / "none.pth")):
        VGG16Features("~/none.pth")
