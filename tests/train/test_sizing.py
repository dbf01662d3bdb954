"""Tests for pconv.train.sizing: notebook 03's settings per device, the caller's values winning, and the errors."""

from __future__ import annotations

import pytest
import torch

from pconv.nn import PConvUNet
from pconv.train import size_table, training_settings


def test_a_cpu_gets_a_small_network_without_the_vgg_terms():
    run = training_settings("cpu", smoke=False)
    assert (run.device, run.kind, run.given) == ("cpu", "cpu", ())
    assert (run.size, run.layers, run.base_channels, run.batch_size) == (128, 5, 16, 8)
    assert (run.steps, run.finetune_steps, run.every, run.vgg) == (1500, 500, 250, None)
    model = PConvUNet(layers=run.layers, base_channels=run.base_channels)
    output, _ = model(torch.rand(1, 3, run.size, run.size), torch.ones(1, 1, run.size, run.size))
    assert output.shape == (1, 3, run.size, run.size)
    text = run.describe()
    assert text.startswith("Settings for cpu: SIZE 128, LAYERS 5, BASE_CHANNELS 16, BATCH_SIZE 8, STEPS 1500 + ")
    assert "VGG off. Picked for a CPU:" in text and "Set in the parameters cell" not in text


@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_a_gpu_gets_the_papers_network_and_loss(monkeypatch, device):
    monkeypatch.setattr(size_table, "resolve_device", lambda d: torch.device(device))
    run = training_settings(smoke=False)
    assert (run.device, run.kind) == (device, "cuda")
    assert (run.size, run.layers, run.base_channels, run.vgg) == (256, 7, 64, "auto")
    assert run.steps + run.finetune_steps > training_settings("cpu", smoke=False).steps
    assert "Picked for a GPU: the paper's network" in run.describe() and "VGG 'auto'" in run.describe()


def test_apple_mps_gets_the_cpu_settings(monkeypatch):
    monkeypatch.setattr(size_table, "resolve_device", lambda d: torch.device("mps"))
    run = training_settings(smoke=False)
    assert (run.device, run.kind, run.size) == ("mps", "cpu", 128)


def test_smoke_is_tiny_and_follows_the_environment(monkeypatch):
    monkeypatch.setenv("PCONV_SMOKE", "1")
    run = training_settings("cpu")
    assert run.kind == "smoke" and run.steps <= 2 and run.size <= 32 and run.every <= run.steps
    assert "smoke mode" in run.describe()
    monkeypatch.delenv("PCONV_SMOKE")
    assert training_settings("cpu").kind == "cpu"


def test_the_callers_values_win_and_are_named():
    run = training_settings("cpu", smoke=False, steps=8, size=None, vgg=False, layers=3, base_channels=None)
    assert (run.steps, run.size, run.vgg, run.layers, run.base_channels) == (8, 128, None, 3, 16)
    assert run.given == ("layers", "steps", "vgg")
    assert run.describe().endswith("Set in the parameters cell: LAYERS, STEPS, VGG.")
    assert training_settings("cpu", smoke=False, vgg="auto").vgg == "auto"


def test_bad_settings_say_what_to_change():
    with pytest.raises(ValueError, match=r"SIZE 100 must be a multiple of 2\*\*LAYERS = 32: change SIZE or LAYERS"):
        training_settings("cpu", smoke=False, size=100)
    with pytest.raises(TypeError, match=r"unknown setting\(s\) \['lr'\]; known: \["):
        training_settings("cpu", smoke=False, lr=1e-3)
