"""Headless tests for pconv.widgets: building is cheap, controls drive the preview."""

from __future__ import annotations

import time

import pytest

import pconv.masks  # noqa: F401  (imported up front so the build timing measures the widget, not torch)
from pconv.widgets import mask_explorer


def _png(box) -> str:
    (out,) = box.preview.outputs
    return out["data"]["image/png"]


def test_mask_explorer_builds_fast_without_drawing():
    mask_explorer()  # first call: ipywidgets' own one-off setup
    start = time.perf_counter()
    box = mask_explorer()
    assert time.perf_counter() - start < 0.5
    assert box.preview.outputs == () and not box.rendered  # nothing drawn until displayed or changed
    assert set(box.controls) == {"hole_range", "family", "boxes", "size", "seed", "count"}


def test_mask_explorer_preview_follows_the_controls():
    box = mask_explorer(size=64, count=3)
    bundle = box._repr_mimebundle_()  # what display(box) calls: the first draw happens here
    assert "application/vnd.jupyter.widget-view+json" in bundle
    first = _png(box)
    assert "3 masks of 64x64" in box.info.value

    box.controls["seed"].value = 5
    assert _png(box) != first
    box.controls["hole_range"].value = (0.5, 0.6)
    box.controls["family"].value = "thick"
    box.controls["count"].value = 2
    lo, hi = (float(x) for x in box.info.value.split("hole ratio ")[1].split(" (")[0].split(" to "))
    assert "2 masks" in box.info.value and 0.5 <= lo <= hi <= 0.6


@pytest.mark.parametrize("family", ["thin", "medium", "mixed"])
def test_mask_explorer_every_family_renders(family):
    box = mask_explorer(size=32, count=1)
    box.controls["boxes"].value = True
    box.controls["family"].value = family
    assert _png(box)


# ---------------------------------------------------------------- training_panel


def _tiny_panel(tmp_path, steps=2, **config):
    """A panel set up through its controls for a tiny CPU run: PConvUNet(layers=3, base_channels=8) at 32x32."""
    from pconv.config import TrainConfig
    from pconv.widgets import training_panel

    cfg = TrainConfig(
        **{
            "log_every": 1,
            "val_every": steps,
            "sample_every": steps,
            "checkpoint_every": steps,
            "val_batches": 1,
            **config,
        }
    )
    panel = training_panel(config=cfg)
    values = {
        "lr": 1e-3,
        "batch_size": 2,
        "steps": steps,
        "finetune_steps": 1,
        "size": 32,
        "layers": 3,
        "base_channels": 8,
        "hole_range": (0.1, 0.3),
        "valid": 1.0,
        "hole": 5.0,
        "tv": 0.2,
        "style": 0.0,
        "perceptual": 0.0,
        "amp": "off",
        "device": "cpu",
        "out": str(tmp_path / "run"),
    }
    for key, value in values.items():
        panel.controls[key].value = value
    return panel


def test_training_panel_builds_fast_and_trains_nothing(tmp_path):
    from pconv.utils import output_dir
    from pconv.widgets import training_panel

    training_panel()  # first call: imports and ipywidgets' one-off setup
    start = time.perf_counter()
    panel = training_panel()
    assert time.perf_counter() - start < 0.5
    assert panel.trainer is None and panel.thread is None and panel.history == [] and panel.model is None
    assert not panel.running and panel.join(0) and panel.stop_button.disabled
    assert not (output_dir() / "runs").exists()  # no run folder, no model, no data touched
    assert {
        "lr",
        "batch_size",
        "steps",
        "size",
        "hole_range",
        "valid",
        "hole",
        "tv",
        "style",
        "perceptual",
        "amp",
        "device",
        "out",
        "resume",
    } <= set(panel.controls)


def test_training_panel_train_button_runs_with_the_controls_values(tmp_path):
    from pconv.models import PConvUNet

    panel = _tiny_panel(tmp_path, steps=2)
    panel.train_button.click()
    assert panel.join(timeout=300), "training did not finish"
    assert panel.error is None, panel.status.value
    cfg = panel.trainer.config
    assert (cfg.steps, cfg.batch_size, cfg.lr, cfg.size, cfg.finetune_steps, cfg.amp, cfg.device) == (
        2,
        2,
        1e-3,
        32,
        1,
        False,
        "cpu",
    )
    assert cfg.out == str(tmp_path / "run") and not cfg.progress
    assert panel.trainer.loss_fn.weights == {"valid": 1.0, "hole": 5.0, "perceptual": 0.0, "style": 0.0, "tv": 0.2}
    assert isinstance(panel.model, PConvUNet) and panel.model.layers == 3
    assert [row["step"] for row in panel.history] == [1, 2] and "val/psnr" in panel.history[-1]
    assert panel.history[-1]["lr"] == 5e-5  # the fine-tuning phase reached the last step
    assert (tmp_path / "run" / "ckpt_2.pt").is_file()
    assert panel.plot.outputs and panel.samples.outputs  # curves and sample grid drawn into the panel
    assert "finished at step 2/2" in panel.status.value
    assert not panel.train_button.disabled and panel.stop_button.disabled


def test_training_panel_stop_ends_the_run_with_a_checkpoint_then_resume(tmp_path):
    from pconv.checkpoint import load_checkpoint

    panel = _tiny_panel(tmp_path, steps=10_000)
    panel.controls["finetune_steps"].value = 0
    assert panel.start()
    deadline = time.monotonic() + 300
    while (panel.trainer is None or panel.trainer.step < 1) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert panel.running and not panel.stop_button.disabled
    assert not panel.start()  # one run at a time
    panel.stop_button.click()
    assert panel.join(timeout=120), "Stop did not end the run"
    step = panel.trainer.step
    assert panel.error is None and 1 <= step < 10_000
    assert load_checkpoint(tmp_path / "run" / f"ckpt_{step}.pt")["step"] == step
    assert f"stopped at step {step}/10000" in panel.status.value

    panel.controls["resume"].value = True  # continue the same run folder to a larger total
    panel.controls["steps"].value = step + 1
    panel.train_button.click()
    assert panel.join(timeout=300) and panel.error is None, panel.status.value
    assert panel.trainer.step == step + 1 and panel.history[-1]["step"] == step + 1


def test_training_panel_refuses_invalid_controls_without_training(tmp_path):
    panel = _tiny_panel(tmp_path)
    panel.controls["size"].value = 64
    panel.controls["layers"].value = 7  # 64 is not a multiple of 2**7
    assert not panel.start()
    assert panel.thread is None and "multiple of 2**layers = 128" in panel.status.value
    panel.controls["layers"].value = 3
    panel.controls["finetune_steps"].value = 5  # more than steps: TrainConfig refuses it
    assert not panel.start() and "finetune_steps" in panel.status.value
