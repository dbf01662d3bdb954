"""pconv.pretrained.loading, offline: the files the sources save load as the paper's network
(weights_only, exact conversion), a pickle that would run code is never run, and every way a
file can be bad is one PretrainedError naming the file and what to do."""

from __future__ import annotations

import fractions
import pickle
import re
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
from pconv.pretrained import PretrainedError, from_state_dict, load_pretrained, sha256_of
from pconv.train import model_info, save_checkpoint


def same_output(a, b) -> bool:
    image, mask = images_and_masks(2, 32)
    image, mask = image.float(), mask.float()
    with torch.no_grad():
        return torch.equal(a(image, mask)[0], b(image, mask)[0])


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
    garbage, text, html = tmp_path / "garbage.pth", tmp_path / "text.pth", tmp_path / "page.pth"
    truncated, empty = tmp_path / "truncated.pth", tmp_path / "empty.pth"
    garbage.write_bytes(b"GIF89a" + bytes(range(256)) * 4)  # fixed bytes: random ones may parse as a pickle
    text.write_bytes(b"GIF89a, not a torch file " * 80)
    html.write_bytes(b"<!doctype html><html><body>Sign in</body></html>")
    whole = mmagic_file(tmp_path / "whole.pth").read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    empty.write_bytes(b"")
    for path, needle in [
        (garbage, "garbage.pth is not a PyTorch checkpoint, or it is corrupt; download it again, or pass another"),
        (text, "text.pth is not a PyTorch checkpoint but a text file .it starts 'GIF89a, not a torch file"),
        (html, "page.pth is an HTML page, not a checkpoint: the download was probably redirected to a login"),
        (truncated, "truncated.pth is truncated: a PyTorch checkpoint whose end is missing.*download it again"),
        (empty, "empty.pth is empty .0 bytes.: nothing was downloaded; download it again"),
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
