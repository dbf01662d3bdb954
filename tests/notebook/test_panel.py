"""pconv.notebook.panel, headless: Train builds what the controls say, Stop stops, runs start fresh or continue.

While a run trains every control is disabled (none can change it) and enabled again however
the run ends; the trainer's expected notes are shown in the info style, never as errors.
"""

from __future__ import annotations

import time

import pytest
import torch
from figure_checks import assert_readable, tick_labels
from matplotlib.figure import Figure

import pconv.notebook.panel
import pconv.train.trainer
from pconv.nn import PConvUNet
from pconv.notebook import training_panel
from pconv.train import TrainConfig
from pconv.utils import output_dir

CONTROLS = [
    "lr",
    "batch_size",
    "steps",
    "finetune_steps",
    "amp",
    "device",
    "out",
    "size",
    "hole_range",
    "layers",
    "base_channels",
    "conv",
    "valid",
    "hole",
    "tv",
    "style",
    "perceptual",
    "continue",
]


def _tiny_panel(tmp_path, steps=2, out="run", **config):
    """A panel set up through its controls for a tiny CPU run: PConvUNet(layers=3, base_channels=8) at 32x32."""
    cfg = TrainConfig(
        **{"log_every": 1, "val_every": steps, "sample_every": steps, "checkpoint_every": steps, "val_batches": 1}
        | config
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
        "out": str(tmp_path / out) if out else "",
    }
    for key, value in values.items():
        if not panel.controls[key].disabled:
            panel.controls[key].value = value
    return panel


def _train(panel, timeout=300):
    panel.train_button.click()
    assert panel.join(timeout), "training did not finish"
    assert panel.error is None, panel.status.value


def _calls(monkeypatch, owner, name, stub=None) -> list:
    """Record every call of owner.name (made through to the original unless `stub` replaces it)."""
    calls, original = [], getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return (stub or original)(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


def _params(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _max_diff(a, b) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


def test_building_the_panel_builds_trains_and_draws_nothing(monkeypatch):
    built = {
        name: _calls(monkeypatch, pconv.notebook.panel, name) for name in ("build_model", "build_data", "build_loss")
    }
    fits = _calls(monkeypatch, pconv.train.trainer.Trainer, "fit", stub=lambda trainer, *a, **k: trainer.history)
    drawn = _calls(monkeypatch, Figure, "savefig")
    panel = training_panel()
    assert list(panel.controls) == CONTROLS
    assert all(calls == [] for calls in built.values()) and fits == [] and drawn == []
    assert panel.trainer is None and panel.thread is None and panel.history == [] and panel.model is None
    assert not panel.running and panel.join(0) and panel.stop_button.disabled and panel.runs == []
    assert panel.plot.outputs == () and panel.samples.outputs == () and panel.note.value == ""
    assert not (output_dir() / "runs").exists()  # no run folder either
    assert (panel.train_button.description, panel.stop_button.description) == ("Train", "Stop")

    for key, value in {"size": 32, "layers": 3, "base_channels": 8, "style": 0.0, "perceptual": 0.0}.items():
        panel.controls[key].value = value
    panel.train_button.click()  # the same counters see the work once it is asked for
    assert panel.join(120) and panel.error is None, panel.status.value
    assert [len(calls) for calls in built.values()] == [1, 1, 1] and len(fits) == 1


def test_train_builds_the_model_data_and_loss_from_the_controls(monkeypatch, tmp_path):
    monkeypatch.setattr(
        pconv.train.trainer.Trainer, "fit", lambda trainer, *a, **k: trainer.history
    )  # build, don't train
    panel = _tiny_panel(tmp_path, out=None)
    _train(panel)
    model, data = panel.model, panel.train_data
    assert isinstance(model, PConvUNet) and (model.layers, model.config["base_channels"]) == (3, 8)
    assert (
        data.masks.hole_range == (0.1, 0.3)
        and data[0]["image"].shape == (3, 32, 32)
        and data[0]["mask"].shape[-1] == 32
    )
    assert panel.trainer.config.size == 32 and panel.trainer.loss_fn is panel.loss_fn
    assert panel.loss_fn.weights == {"valid": 1.0, "hole": 5.0, "tv": 0.2, "style": 0.0, "perceptual": 0.0}

    changed = {"layers": 2, "base_channels": 16, "size": 64, "hole_range": (0.3, 0.5), "hole": 3.0, "tv": 0.0}
    for key, value in changed.items():
        panel.controls[key].value = value
    _train(panel)
    assert panel.model is not model and (panel.model.layers, panel.model.config["base_channels"]) == (2, 16)
    assert panel.train_data.masks.hole_range == (0.3, 0.5) and panel.train_data[0]["image"].shape[-1] == 64
    assert (panel.loss_fn.weights["hole"], panel.loss_fn.weights["tv"]) == (3.0, 0.0)
    assert panel.trainer.out != panel.runs[0].trainer.out  # each fresh run gets its own folder


def test_training_panel_train_button_runs_with_the_controls_values(tmp_path):
    panel = _tiny_panel(tmp_path, steps=2)
    _train(panel)
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
    assert "3x8, 32px holes 0.10-0.30, lr 1.0e-03" in panel.table.value  # the run's settings, beside the plot
    assert "finished at step 2/2" in panel.status.value
    assert not panel.train_button.disabled and panel.stop_button.disabled
    assert [len(ax.get_lines()) for ax in panel.figure.axes] == [1, 1, 1]


def test_a_second_train_starts_fresh_unless_continue_is_ticked(tmp_path):
    panel = _tiny_panel(tmp_path, steps=2, out=None)
    panel.controls["finetune_steps"].value = 0
    panel.controls["lr"].value = 1e-2  # Adam's first steps move every weight by about lr
    _train(panel)
    first, trained = panel.model, _params(panel.model)
    torch.manual_seed(panel.trainer.config.seed)
    initial = _params(PConvUNet(layers=3, base_channels=8))  # the seeded initialisation of every fresh run
    assert _max_diff(trained, initial) > 5e-3

    panel.controls["continue"].value = True
    panel.controls["layers"].value = 4  # continuing keeps the model: a new architecture is refused
    assert not panel.start()
    assert "continue keeps the last run's model (3 layers, 8 channels, partial" in panel.status.value
    panel.controls["layers"].value = 3
    panel.controls["lr"].value = 1e-4
    panel.controls["steps"].value = 1
    _train(panel)  # one more step on the same weights and optimizer
    optimizer = panel.trainer.optimizer
    assert panel.model is first and panel.trainer.step == 3 and panel.trainer.config.steps == 3
    assert int(optimizer.state[next(panel.model.parameters())]["step"]) == 3  # Adam's state carried on
    assert _max_diff(_params(panel.model), trained) < 1e-3  # a small step from the trained weights
    assert [row["step"] for row in panel.runs[-1].history] == [3]

    panel.controls["continue"].value = False
    _train(panel)  # fresh: new weights from the seed, a new optimizer
    assert panel.model is not first and panel.trainer.step == 1
    assert int(panel.trainer.optimizer.state[next(panel.model.parameters())]["step"]) == 1
    assert _max_diff(_params(panel.model), initial) < 1e-3  # one small step from the seeded initialisation

    labels = [run.label for run in panel.runs]
    assert labels[0].startswith("#1: 3x8, 32px holes 0.10-0.30, lr 1.0e-02, batch 2, 2 steps, w 1/5/0.2/0/0")
    assert labels[1].startswith("#2 (continues #1): 3x8") and labels[2].startswith("#3: 3x8")
    for ax in panel.figure.axes:  # the runs overlay: one line each, labelled with its settings
        assert [line.get_label() for line in ax.get_lines()] == labels
    (legend,) = panel.figure.legends  # numbers in the figure, settings in the table
    assert [t.get_text() for t in legend.get_texts()] == ["#1", "#2", "#3"]
    table = panel.table.value
    assert table.index("#3") < table.index("#2 (continues #1)") < table.index("#1")  # newest first


def test_training_panel_stop_ends_the_run_with_a_checkpoint_then_continue(tmp_path):
    from pconv.train import load_checkpoint

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

    panel.controls["continue"].value = True  # continue the same run folder for one more step
    panel.controls["steps"].value = 1
    _train(panel)
    assert panel.trainer.step == step + 1 and panel.history[-1]["step"] == step + 1


def test_pinned_model_data_and_loss_disable_their_controls_and_fresh_means_as_given(tmp_path):
    from pconv.data import sample_inpainting_data
    from pconv.nn import InpaintingLoss

    torch.manual_seed(1)
    model = PConvUNet(layers=2, base_channels=8)
    given = _params(model)
    train_data, val_data = sample_inpainting_data(16, (0.2, 0.3), train_length=8, val_length=2)
    loss = InpaintingLoss(hole=2.0, style=0.0, perceptual=0.0, vgg=None)
    config = TrainConfig(steps=2, batch_size=2, device="cpu", amp=False, val_batches=1, log_every=1)
    panel = training_panel(model, train_data, val_data, loss_fn=loss, config=config)
    pinned = {"size", "hole_range", "layers", "base_channels", "conv", "valid", "hole", "tv", "style", "perceptual"}
    assert {k for k, c in panel.controls.items() if c.disabled} == pinned
    assert panel.controls["layers"].tooltip == "pinned: a model was passed to training_panel(model=...)"
    assert panel.controls["size"].tooltip == "pinned: training data was passed to training_panel(train_data=...)"
    assert panel.controls["hole"].tooltip == "pinned: a loss was passed to training_panel(loss_fn=...)"
    assert "a model was passed to training_panel(model=...)" in panel.note.value
    assert (panel.controls["layers"].value, panel.controls["base_channels"].value, panel.controls["hole"].value) == (
        2,
        8,
        2.0,
    )

    panel.controls["lr"].value, panel.controls["finetune_steps"].value = 1e-2, 0
    _train(panel)
    assert panel.model is model and panel.train_data is train_data and panel.loss_fn is loss
    assert panel.trainer.config.size == 16  # read from the data, not the (pinned) size control
    assert _max_diff(_params(model), given) > 5e-3
    panel.controls["lr"].value, panel.controls["steps"].value = 1e-4, 1
    _train(panel)  # fresh weights for a pinned model: the weights it was given
    assert panel.model is model and _max_diff(_params(model), given) < 1e-3
    assert (
        panel.runs[-1].label.startswith("#2: given model, given data, lr 1.0e-04")
        and "given loss" in panel.runs[-1].label
    )


def test_training_panel_refuses_invalid_controls_without_training(tmp_path):
    panel = _tiny_panel(tmp_path)
    panel.controls["size"].value = 64
    panel.controls["layers"].value = 7  # 64 is not a multiple of 2**7
    assert not panel.start()
    assert panel.thread is None and "multiple of 2**layers = 128" in panel.status.value
    panel.controls["layers"].value = 3
    panel.controls["finetune_steps"].value = 5  # more than steps: TrainConfig refuses it
    assert not panel.start() and "finetune_steps" in panel.status.value
    panel.controls["finetune_steps"].value = 0

    panel.controls["continue"].value = True  # nothing to continue yet
    panel.controls["out"].value = ""
    assert not panel.start() and "continue: no run yet; press Train once first" in panel.status.value
    panel.controls["out"].value = str(tmp_path / "empty")
    assert not panel.start() and f"continue: no checkpoint in {tmp_path / 'empty'}" in panel.status.value

    panel.controls["continue"].value = False  # a fresh run never writes into a folder that holds one
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "ckpt_5.pt").write_bytes(b"")
    panel.controls["out"].value = str(tmp_path / "old")
    assert not panel.start() and "holds a run already; tick continue" in panel.status.value
    assert panel.thread is None and panel.runs == []


def _settings_enabled(panel) -> dict[str, bool]:
    return {name: not c.disabled for name, c in panel.controls.items()}


def _wait_for_step(panel, timeout=300) -> None:
    deadline = time.monotonic() + timeout
    while (panel.trainer is None or panel.trainer.step < 1) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_every_control_is_locked_while_a_run_trains_and_unlocked_when_it_stops(tmp_path):
    panel = _tiny_panel(tmp_path, steps=10_000)
    panel.controls["finetune_steps"].value = 0
    assert all(_settings_enabled(panel).values()) and "locked" not in panel.note.value
    assert panel.start()
    assert not any(_settings_enabled(panel).values())  # at once, before the thread has done anything
    assert "locked while this run trains" in panel.note.value and "#e8f4f8" in panel.note.value  # info style
    _wait_for_step(panel)
    assert panel.running and not any(_settings_enabled(panel).values())
    panel.controls["lr"].value = 0.5  # set from code all the same: the run keeps the value it started with
    time.sleep(0.2)
    assert panel.trainer.config.lr == 1e-3 and panel.trainer.optimizer.param_groups[0]["lr"] == 1e-3
    panel.stop()
    assert panel.join(120)
    assert all(_settings_enabled(panel).values()) and "locked" not in panel.note.value
    assert not panel.train_button.disabled and panel.stop_button.disabled


@pytest.mark.parametrize("failure", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_controls_are_unlocked_after_a_run_fails_or_is_interrupted(tmp_path, monkeypatch, failure):
    import pconv.train.trainer

    def fail(trainer, *args, **kwargs):
        raise failure

    monkeypatch.setattr(pconv.train.trainer.Trainer, "fit", fail)
    panel = _tiny_panel(tmp_path)
    assert panel.start() and panel.join(120)
    assert panel.error is failure and all(_settings_enabled(panel).values())
    assert f"training failed: {type(failure).__name__}" in panel.status.value and "#fdecea" in panel.status.value


def test_pinned_controls_stay_disabled_after_a_run(tmp_path):
    torch.manual_seed(0)
    model = PConvUNet(layers=2, base_channels=8)
    config = TrainConfig(steps=1, batch_size=2, device="cpu", amp=False, val_batches=1, log_every=1, size=16)
    panel = training_panel(model, config=config, start={"style": 0.0, "perceptual": 0.0, "size": 32})
    assert panel.start() and panel.join(120) and panel.error is None, panel.status.value
    assert {k for k, on in _settings_enabled(panel).items() if not on} == {"layers", "base_channels", "conv"}


def test_the_panel_figure_has_whole_steps_two_tick_labels_per_axis_and_a_readable_legend(tmp_path):
    panel = _tiny_panel(tmp_path, steps=3, out=None)
    panel.controls["finetune_steps"].value = 0
    _train(panel)
    _train(panel)
    fig = panel.figure
    assert_readable(fig)
    for ax in fig.axes:
        xs, ys = tick_labels(ax)
        assert len(xs) >= 2 and len(ys) >= 2, (ax.get_title(), xs, ys)
        assert all(float(t) % 1 == 0 for t in ax.get_xticks()), ax.get_xticks()
    assert min(t.get_fontsize() for t in fig.legends[0].get_texts()) >= 9


def test_the_trainers_notes_on_a_panel_run_go_to_the_panel_not_to_stderr(tmp_path, capsys):
    panel = _tiny_panel(tmp_path, steps=2)
    panel.controls["finetune_steps"].value = 0
    _train(panel)
    panel.controls["continue"].value = True
    panel.controls["finetune_steps"].value = 1  # changed on purpose: the trainer notes it
    _train(panel)
    assert "note: resume: finetune_steps is 1 now but was 0" in panel.note.value
    assert "#b00" not in panel.note.value  # the info style, not the error's red
    assert "now but was" not in capsys.readouterr().err
    panel.controls["continue"].value = False
    panel.controls["out"].value = ""
    _train(panel)
    assert "note:" not in panel.note.value  # a new run starts with no notes
