"""Checkpoints written before `PConvUNet` became a plain class still load, and compute what they did.

The fixtures in tests/fixtures/checkpoints/ are real checkpoints written by `pconv.train.trainer.Trainer`
with the code of commit a65ffac (see the README there), each with a fixed input and the output
the old code gave for it. They are loaded here as `pconv.train.model_from_checkpoint` does:
`load_checkpoint` (weights_only), the translation of `pconv.nn.legacy.upgrade_model_info`, the class
looked up by name in `pconv.nn.pconv_unet`, lists back to tuples, a strict `load_state_dict`.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from pconv.nn import MODELS, PConvUNet, upgrade_model_info
from pconv.train import load_checkpoint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoints"


def rebuild(ckpt: dict) -> torch.nn.Module:
    """The model of a checkpoint, rebuilt as `model_from_checkpoint` does once it calls `upgrade_model_info`."""
    name, kwargs, state = upgrade_model_info(ckpt["config"]["model"], ckpt["model"])
    cls = MODELS[name]
    model = cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()})
    model.load_state_dict(state)  # strict: every key and shape must fit
    return model.eval()


@pytest.mark.parametrize(
    "fixture, old_name, new_name",
    [
        ("pconv_paper", "PConvUNet", "PConvUNet"),
        ("pconv_stem", "PConvUNetPlus", "PConvUNetWithStem"),
        ("pconv_normalize", "PConvUNet", "PConvUNet"),
        ("unet", "UNet", "UNet"),
    ],
)
def test_old_checkpoints_load_and_give_the_recorded_output(fixture, old_name, new_name):
    ckpt = load_checkpoint(FIXTURES / f"{fixture}.pt")
    assert ckpt["config"]["model"]["name"] == old_name and ckpt["step"] == 2  # really the old layout
    io = torch.load(FIXTURES / f"{fixture}.io.pt", weights_only=True)
    model = rebuild(ckpt)
    assert type(model).__name__ == new_name
    with torch.no_grad():
        if "mask" in io:
            output, output_mask = model(io["image"], io["mask"])
            assert torch.equal(output_mask, io["output_mask"])
        else:
            output = model(io["image"])
    torch.testing.assert_close(output, io["output"], rtol=0, atol=1e-6)


def test_old_stem_checkpoint_becomes_the_stem_class_with_its_settings_and_optimizer_state():
    ckpt = load_checkpoint(FIXTURES / "pconv_stem.pt")
    old = ckpt["config"]["model"]["kwargs"]
    assert old["stem_channels"] == 4 and old["residual"] is False
    name, kwargs, state = upgrade_model_info(ckpt["config"]["model"], ckpt["model"])
    assert name == "PConvUNetWithStem"
    assert kwargs == dict(
        in_channels=3,
        stem_channels=4,
        layers=2,
        base_channels=4,
        max_channels=512,
        upsampling="nearest",
        normalize=None,
    )
    assert [k for k in state if not k.startswith(("stem.", "head."))] == [
        "body." + k for k in ckpt["model"] if not k.startswith(("stem.", "head."))
    ]
    assert all(state[k] is v for k, v in zip(state, ckpt["model"].values()))  # renamed, not copied
    # Adam's state is matched to parameters by position: each saved moment has its parameter's shape.
    model = rebuild(ckpt)
    params = list(model.parameters())
    saved = ckpt["optimizer"]["state"]
    assert len(saved) == len(params)
    assert all(saved[i]["exp_avg"].shape == p.shape for i, p in enumerate(params))
    optimizer = torch.optim.Adam(model.parameters())
    optimizer.load_state_dict(ckpt["optimizer"])  # and the optimizer takes it


def test_a_residual_checkpoint_is_refused_with_the_reason():
    ckpt = load_checkpoint(FIXTURES / "pconv_residual.pt")
    assert ckpt["config"]["model"]["kwargs"]["residual"] is True
    with pytest.raises(ValueError, match=r"residual=True.*no longer.*31\.67 / 26\.83.*harmonic"):
        upgrade_model_info(ckpt["config"]["model"], ckpt["model"])


@pytest.mark.parametrize(
    "info, name, kwargs",
    [
        # written before `normalize` existed: only stem_channels recorded
        (
            {"name": "PConvUNet", "kwargs": {"layers": 2, "stem_channels": 2}},
            "PConvUNetWithStem",
            {"in_channels": 3, "stem_channels": 2, "layers": 2},
        ),
        # the old subclass with neither extension: the paper's network
        (
            {"name": "PConvUNetPlus", "kwargs": {"layers": 2, "stem_channels": 0, "residual": False}},
            "PConvUNet",
            {"layers": 2},
        ),
        # today's classes pass through untouched
        ({"name": "PConvUNet", "kwargs": {"layers": 2}}, "PConvUNet", {"layers": 2}),
        ({"name": "PConvUNetWithStem", "kwargs": {"stem_channels": 2}}, "PConvUNetWithStem", {"stem_channels": 2}),
        ({"name": "UNet", "kwargs": {"features": [4, 8]}}, "UNet", {"features": [4, 8]}),
    ],
)
def test_model_info_translation(info, name, kwargs):
    state = {"encoder.0.conv.weight": torch.zeros(1), "stem.conv.weight": torch.ones(1)}
    before = copy.deepcopy(info)
    got_name, got_kwargs, got_state = upgrade_model_info(info, state)
    assert (got_name, got_kwargs) == (name, kwargs)
    moved = name == "PConvUNetWithStem" and info["name"] != name
    assert list(got_state) == (["body.encoder.0.conv.weight", "stem.conv.weight"] if moved else list(state))
    assert info == before  # the checkpoint's own dict is not modified
    again = upgrade_model_info({"name": got_name, "kwargs": got_kwargs}, got_state)
    assert again == (got_name, got_kwargs, got_state)  # idempotent: safe to call on every checkpoint


def test_state_dict_metadata_follows_the_renamed_keys():
    old = PConvUNet(in_channels=2, layers=2, base_channels=4).state_dict()  # the old layout's U-Net keys
    _, _, state = upgrade_model_info({"name": "PConvUNet", "kwargs": {"stem_channels": 2}}, old)
    assert "body.encoder.1.bn" in state._metadata and "encoder.1.bn" not in state._metadata
    assert state._metadata["body.encoder.1.bn"] == old._metadata["encoder.1.bn"]  # BatchNorm's version
