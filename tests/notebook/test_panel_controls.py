"""pconv.notebook.panel_controls: one table, start values from their owners, values routed to their targets."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch

from pconv.nn import InpaintingLoss, PConvUNet
from pconv.notebook.panel_controls import (
    LOSS_TERMS,
    TRAINING_CONTROLS,
    build_data,
    build_loss,
    build_model,
    loss_kwargs,
    make_config,
    model_kwargs,
    peek_size,
    routed,
    run_label,
    start_values,
    training_controls,
)
from pconv.train import SIZES, TrainConfig

PANEL_START = SIZES["panel", "any"]  # the panel's one deliberate difference from the defaults


def test_the_table_declares_each_control_once_and_every_target_takes_its_values():
    names = [row.name for row in TRAINING_CONTROLS]
    labels = [row.label for row in TRAINING_CONTROLS]
    assert len(set(names)) == len(names) and len(set(labels)) == len(labels)
    assert all(row.tooltip for row in TRAINING_CONTROLS)
    by_target = {t: {r.name for r in TRAINING_CONTROLS if r.target == t} for t in ("train", "model", "loss")}
    assert by_target["train"] <= {f.name for f in dataclasses.fields(TrainConfig)}
    assert by_target["model"] == {"layers", "base_channels", "conv"} <= set(inspect.signature(PConvUNet).parameters)
    (conv,) = [row for row in TRAINING_CONTROLS if row.name == "conv"]
    assert conv.kind == "choice" and conv.options == ("partial", "plain", "gated")
    assert by_target["loss"] == set(LOSS_TERMS) <= set(inspect.signature(InpaintingLoss).parameters)
    assert {r.target for r in TRAINING_CONTROLS} == {"train", "data", "model", "loss", "run"}


def test_start_values_come_from_train_config_and_inpainting_loss():
    values = start_values()
    quick = TrainConfig(size=PANEL_START["size"], steps=PANEL_START["steps"], batch_size=PANEL_START["batch_size"])
    assert (values["lr"], values["finetune_steps"], values["device"]) == (quick.lr, quick.finetune_steps, quick.device)
    assert (values["steps"], values["batch_size"], values["size"]) == (quick.steps, quick.batch_size, quick.size)
    assert values["amp"] == "auto" and values["out"] == "" and values["continue"] is False
    assert {k: values[k] for k in LOSS_TERMS} == InpaintingLoss(vgg=None).weights  # the class's own defaults
    assert values["hole_range"] == (0.01, 0.6)  # MaskGenerator's default: the paper's six bins together
    assert (values["layers"], values["base_channels"]) == (PANEL_START["layers"], PANEL_START["base_channels"])
    assert values["conv"] == "partial"  # PConvUNet's default: the paper's layer


def test_start_values_follow_what_the_caller_passes():
    config = TrainConfig(lr=1e-3, steps=50, finetune_steps=5, amp=True, device="cpu", out="runs/x", size=[32, 48])
    model = PConvUNet(layers=2, base_channels=8, conv="gated")
    loss = InpaintingLoss(hole=3.0, style=0.0, perceptual=0.0, vgg=None)
    values = start_values(config, model, loss)
    assert (values["lr"], values["steps"], values["finetune_steps"]) == (1e-3, 50, 5)
    assert (values["amp"], values["device"], values["out"], values["size"]) == ("on", "cpu", "runs/x", 32)
    assert (values["layers"], values["base_channels"], values["conv"]) == (2, 8, "gated")
    assert (values["hole"], values["style"], values["valid"]) == (3.0, 0.0, 1.0)


def test_make_config_routes_the_train_controls_into_a_train_config():
    values = {**start_values(), "lr": 1e-3, "steps": 40, "finetune_steps": 10, "amp": "off", "out": "  "}
    cfg = make_config(values)
    assert (cfg.lr, cfg.steps, cfg.finetune_steps, cfg.amp, cfg.out, cfg.size) == (1e-3, 40, 10, False, None, 64)
    assert not cfg.progress and (cfg.log_every, cfg.val_every, cfg.checkpoint_every) == (2, 10, 10)  # scaled to steps
    base = TrainConfig(val_every=7, seed=3)
    cfg = make_config({**values, "out": "runs/y"}, base)
    assert (cfg.val_every, cfg.seed, cfg.out, cfg.steps) == (7, 3, "runs/y", 40)  # the rest from the base
    with pytest.raises(ValueError, match=r"finetune_steps must be an int in \[0, steps=40\]"):
        make_config({**values, "finetune_steps": 41})


def test_routed_values_build_the_model_data_and_loss():
    values = {**start_values(), "layers": 3, "base_channels": 8, "hole_range": (0.2, 0.4), "style": 0.0}
    values.update(perceptual=0.0, hole=5.0)
    assert routed(values, "model") == model_kwargs(values) == {"layers": 3, "base_channels": 8, "conv": "partial"}
    assert loss_kwargs(values) == {"valid": 1.0, "hole": 5.0, "tv": 0.1, "style": 0.0, "perceptual": 0.0}
    model = build_model(values, seed=0)
    torch.manual_seed(0)
    reference = PConvUNet(layers=3, base_channels=8)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))
    for conv in ("plain", "gated"):  # the dropdown's choice reaches the constructor
        model = build_model({**values, "conv": conv}, seed=0)
        torch.manual_seed(0)
        reference = PConvUNet(layers=3, base_channels=8, conv=conv)
        assert model.config["conv"] == conv and list(model.state_dict()) == list(reference.state_dict())
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), reference.state_dict().values()))
    train, val = build_data(values, size=32, seed=0)
    assert train.masks.hole_range == (0.2, 0.4) and train[0]["image"].shape == (3, 32, 32) and len(val) == 8
    loss = build_loss(values)
    assert loss.weights == loss_kwargs(values) and not loss.uses_vgg  # no VGG when its weights are 0


def test_run_label_names_the_settings_or_what_was_given():
    values = {**start_values(), "layers": 3, "base_channels": 8, "hole_range": (0.1, 0.3), "lr": 1e-3}
    cfg = make_config(values)
    label = run_label(2, values, cfg, {})
    assert label == "#2: 3x8, 64px holes 0.10-0.30, lr 1.0e-03, batch 4, 200 steps, w 1/6/0.1/120/0.05"
    assert run_label(2, {**values, "conv": "gated"}, cfg, {}).startswith("#2: 3x8 gated, 64px")
    pinned = run_label(3, values, dataclasses.replace(cfg, finetune_steps=5), {"model": 1, "loss": 1}, "#2")
    assert pinned.startswith("#3 (continues #2): given model, 64px") and "(5 fine-tune), given loss" in pinned


def test_pinned_controls_are_disabled_and_say_why():
    controls = training_controls(pinned={"model": PConvUNet(layers=2, base_channels=8)}, out="runs/z")
    assert controls["layers"].disabled and controls["base_channels"].disabled and controls["conv"].disabled
    assert controls["layers"].tooltip == "pinned: a model was passed to training_panel(model=...)"
    assert controls["layers"].value == 2 and controls["out"].value == "runs/z"
    assert not any(controls[k].disabled for k in ("size", "hole_range", "hole", "lr"))


def test_peek_size_reads_the_first_item_or_gives_up():
    image = torch.zeros(3, 24, 24)
    assert peek_size([{"image": image}]) == peek_size([(image, None)]) == peek_size([image]) == 24
    assert peek_size([]) is None and peek_size([object()]) is None


def test_start_values_can_be_given_by_name_but_not_for_unknown_or_pinned_controls():
    controls = training_controls(start={"layers": 6, "hole_range": (0.1, 0.5), "style": 0.0})
    assert (controls["layers"].value, controls["hole_range"].value, controls["style"].value) == (6, (0.1, 0.5), 0.0)
    with pytest.raises(ValueError, match=r"start: no control named \['depth'\]; they are \['lr', "):
        training_controls(start={"depth": 6})
    with pytest.raises(ValueError, match=r"start: \['layers'\] are pinned by what was passed in"):
        training_controls(pinned={"model": PConvUNet(layers=2, base_channels=8)}, start={"layers": 6})
