"""pconv.train.checkpoint_model: the model record a checkpoint keeps, rebuilding the model safely (refused
before allocating when the settings do not fit), and how a checkpoint's model differs from another."""

from __future__ import annotations

import logging

import pytest
import torch
from tiny_run import nan_model
from torch import nn

from pconv.nn import MODELS, PConvUNet
from pconv.train.checkpoint import CheckpointError
from pconv.train.checkpoint_model import changes_the_arm, describe_model_mismatch, model_from_checkpoint, model_info


def test_model_info_records_the_class_and_its_arguments_as_plain_values(caplog):
    model = PConvUNet(layers=2, base_channels=4, max_channels=8)
    info = model_info(model)
    assert info["name"] == "PConvUNet" and info["kwargs"]["layers"] == 2 and info["kwargs"]["base_channels"] == 4
    assert not any(isinstance(v, tuple) for v in info["kwargs"].values())  # lists: weights_only loading reads them
    with caplog.at_level(logging.WARNING, logger="pconv.train.trainer"):
        assert model_info(nn.Conv2d(1, 1, 1)) == {"name": "Conv2d", "kwargs": {}}
    assert "no `config` dict" in caplog.text


def test_a_checkpoint_of_a_model_rebuilds_the_same_network_in_eval_mode(tmp_path):
    torch.manual_seed(0)
    model = PConvUNet(layers=2, base_channels=4, max_channels=8)
    ckpt = {"step": 1, "model": model.state_dict(), "config": {"model": model_info(model)}}
    torch.save(ckpt, tmp_path / "ckpt_1.pt")
    rebuilt = model_from_checkpoint(tmp_path / "ckpt_1.pt")
    assert type(rebuilt) is PConvUNet and not rebuilt.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, rebuilt.state_dict()[k]), k


def tiny_pconv_ckpt(**kwargs):
    model = PConvUNet(layers=2, base_channels=4, max_channels=8)
    info = model_info(model)
    info["kwargs"].update(kwargs)
    return {"step": 1, "model": model.state_dict(), "config": {"model": info, "task": "inpainting", "size": 16}}


@pytest.mark.parametrize(
    "spoil,expected",
    [
        (lambda c: nan_model({**c, "model": {**c["model"], "w": torch.zeros(2)}}), "not finite"),
        (lambda c: {**c, "config": {**c["config"], "size": "abc"}}, "size"),
        (lambda c: {**c, "config": {**c["config"], "model": "PConvUNet"}}, "model"),
        (lambda c: {**c, "config": {**c["config"], "model": {"name": "PConvUNet", "kwargs": [1]}}}, "kwargs"),
        (lambda c: c | {"config": {**c["config"], "model": {"name": "PConvUNet", "kwargs": {"layers": "x"}}}}, "lay"),
    ],
    ids=["nan-weights", "size-text", "model-text", "kwargs-list", "layers-text"],
)
def test_model_from_checkpoint_refuses_bad_checkpoints_with_a_checkpoint_error(tmp_path, spoil, expected):
    ckpt = spoil(tiny_pconv_ckpt())
    with pytest.raises(CheckpointError, match=expected):
        model_from_checkpoint(ckpt)
    torch.save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"bad\.pt"):
        model_from_checkpoint(tmp_path / "bad.pt")


def test_model_settings_that_do_not_fit_the_weights_are_refused_before_allocating(monkeypatch):
    built_on = []

    class Watched(PConvUNet):
        def __init__(self, *args, **kwargs):
            built_on.append(torch.get_default_device().type)
            super().__init__(*args, **kwargs)

    ckpt, good = tiny_pconv_ckpt(base_channels=60000, max_channels=60000), tiny_pconv_ckpt()
    monkeypatch.setitem(MODELS, "PConvUNet", Watched)
    with pytest.raises(CheckpointError, match="differ") as e:
        model_from_checkpoint(ckpt)
    assert built_on == ["meta"] and "60000" in str(e.value)  # never built for real
    built_on.clear()
    model = model_from_checkpoint(good)
    assert built_on == ["meta", "cpu"] and not model.training


def test_model_mismatch_names_the_saved_configuration():
    saved = {"name": "PConvUNet", "kwargs": {"layers": 3, "base_channels": 8, "in_channels": 3}}
    now = {"name": "PConvUNet", "kwargs": {"layers": 4, "base_channels": 8, "in_channels": 3}}
    text = describe_model_mismatch(saved, now)
    assert "layers=3" in text and "--layers 3" in text and "now 4" in text and "base_channels" not in text
    assert describe_model_mismatch(saved, saved) is None
    other = describe_model_mismatch({"name": "UNet", "kwargs": {}}, now)
    assert "UNet" in other and "PConvUNet" in other
    assert describe_model_mismatch({}, now) is None  # written without model information: nothing to compare


def test_an_argument_a_checkpoint_predates_counts_as_the_class_default():
    old = {"name": "PConvUNet", "kwargs": {"layers": 3, "base_channels": 8}}  # written before conv= existed
    now = {"name": "PConvUNet", "kwargs": {"layers": 3, "base_channels": 8, "conv": "partial", "mask_channel": False}}
    assert describe_model_mismatch(old, now) is None and not changes_the_arm(old, now)
    plain = {"name": "PConvUNet", "kwargs": {**now["kwargs"], "conv": "plain"}}
    assert "conv='partial' (now 'plain')" in describe_model_mismatch(old, plain) and changes_the_arm(old, plain)
    unet = {"name": "UNet", "kwargs": {"features": [4, 8]}}
    assert describe_model_mismatch(unet, {"name": "UNet", "kwargs": {"features": [4, 8], "padding": "zeros"}}) is None
    assert changes_the_arm(unet, {"name": "UNet", "kwargs": {"features": [4, 8], "padding": "partial"}})


def test_a_boolean_setting_is_named_as_its_on_or_off_flag():
    base = {"layers": 3, "conv": "plain"}
    on = {"name": "PConvUNet", "kwargs": {**base, "mask_channel": True}}
    off = {"name": "PConvUNet", "kwargs": {**base, "mask_channel": False}}
    assert "(flags: --mask-channel)" in describe_model_mismatch(on, off)
    assert "(flags: --no-mask-channel)" in describe_model_mismatch(off, on)
    assert not changes_the_arm(on, off)  # the weights do not fit: load_state_dict refuses it
