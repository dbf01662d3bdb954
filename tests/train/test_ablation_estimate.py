"""Tests for pconv.train.ablation_estimate: the measured times add up as they should; finished runs are free."""

from __future__ import annotations

import pytest

from pconv.nn import PConvUNet
from pconv.train import ablation_estimate as est
from pconv.train import ablation_settings, estimate_ablation, model_info, save_checkpoint
from pconv.train.ablations import TASKS
from pconv.train.estimate import GUESS


def test_the_estimate_adds_the_steps_events_and_fills_of_every_run(monkeypatch):
    s = ablation_settings("cpu", smoke=True)
    monkeypatch.setattr(est, "_step_seconds", lambda settings, task, arm, batch: 0.5 if arm == "gated" else 0.25)
    e = estimate_ablation(s, baselines=["harmonic", "mean_fill"])
    assert set(e.step_seconds) == {(t, a) for t, arms in TASKS.items() for a in arms}
    assert all(n == len(s.seeds) for n in e.runs_left.values())
    assert e.steps == {"inpainting": s.steps, "segmentation": s.seg_steps}
    assert set(e.fill_seconds) == {"harmonic", "mean_fill"} and all(v > 0 for v in e.fill_seconds.values())
    # every step time holds the fixed arm time plus the time to read one batch, the same for a task's arms
    load = {t: e.step_seconds[(t, next(iter(arms)))] - 0.25 for t, arms in TASKS.items()}
    assert e.step_seconds[("inpainting", "gated")] == pytest.approx(0.5 + load["inpainting"])
    expected = 0.0
    for (task, _arm), step in e.step_seconds.items():
        events = 2 * GUESS["validation_batch"] * step + GUESS["samples_s"] + 2 * GUESS["checkpoint_s"]
        expected += len(s.seeds) * (e.steps[task] * step + events)
    assert e.train_seconds == pytest.approx(expected)
    assert e.seconds == pytest.approx(e.train_seconds + e.eval_seconds) and e.eval_seconds > sum(
        e.fill_seconds.values()
    )
    text = e.describe()
    assert text.startswith("Estimated time on this machine: about ")
    assert f"\n  inpainting: {4 * len(s.seeds)} run(s) of {s.steps} steps to train (partial " in text
    assert "\n  scoring: about " in text and "harmonic" in text


def test_a_step_is_timed_on_the_arms_own_network():
    s = ablation_settings("cpu", smoke=True)
    batch = est._batch(est.arm_data(s, "segmentation", 0)[0], 0, s.seg_batch_size)
    assert batch["image"].shape == (s.seg_batch_size, 3, *s.seg_size) and "id" not in batch
    assert 0 < est._step_seconds(s, "segmentation", "partial", batch) < 60


def test_finished_runs_are_left_out(tmp_path, monkeypatch):
    monkeypatch.setattr(est, "_step_seconds", lambda settings, task, arm, batch: 0.1)
    s = ablation_settings("cpu", smoke=True, seeds=(0, 1))
    model = PConvUNet(layers=s.layers, base_channels=s.base_channels)
    for seed, step in ((0, s.steps), (1, s.steps - 1)):  # seed 0 finished, seed 1 stopped a step short
        path = s.run_folder("inpainting", "partial", seed, root=tmp_path) / f"ckpt_{step}.pt"
        config = {"size": s.size, "model": model_info(model), "task": "inpainting"}
        save_checkpoint({"step": step, "model": model.state_dict(), "config": config}, path)
    e = estimate_ablation(s, baselines=[], root=tmp_path)
    assert e.runs_left[("inpainting", "partial")] == 1 and e.runs_left[("inpainting", "gated")] == 2


def test_an_unknown_fill_is_named():
    with pytest.raises(ValueError, match=r"unknown classical fill\(s\) \['photoshop'\]; available here: \["):
        estimate_ablation(ablation_settings("cpu", smoke=True), baselines=["photoshop"])
