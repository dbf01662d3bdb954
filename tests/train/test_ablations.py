"""Tests for pconv.train.ablations: notebook 07's settings, arms, data and the real Trainer runs behind them."""

from __future__ import annotations

import math

import pytest
import torch

from pconv.train import (
    SIZES,
    ablation_settings,
    find_checkpoints,
    load_checkpoint,
    model_from_checkpoint,
    size_table,
    train_arms,
)
from pconv.train import ablations as ab
from pconv.utils import output_dir


def tiny(**change):
    """Smoke sizes with one seed: every fit is a few tiny steps."""
    return ablation_settings("cpu", smoke=True, seeds=(0,), **change)


def test_the_settings_come_from_the_sizing_table_per_device(monkeypatch):
    cpu = ablation_settings("cpu", smoke=False)
    row = SIZES["ablations", "cpu"]
    assert (cpu.kind, cpu.device, cpu.given) == ("cpu", "cpu", ())
    assert (cpu.size, cpu.layers, cpu.base_channels, cpu.steps, cpu.vgg) == (
        row["size"], row["layers"], row["base_channels"], row["steps"], None
    )  # fmt: skip
    assert len(cpu.seeds) >= 3 and cpu.seg_size == tuple(row["seg_size"]) and cpu.carvana is None
    assert ablation_settings("cpu", smoke=True).kind == "smoke"
    monkeypatch.setattr(size_table, "resolve_device", lambda d: torch.device("cuda"))
    gpu = ablation_settings(smoke=False)
    assert (gpu.kind, gpu.size, gpu.layers, gpu.base_channels, gpu.vgg) == ("cuda", 256, 7, 64, "auto")
    assert len(gpu.seeds) >= 3


def test_the_callers_values_win_and_are_named():
    s = ablation_settings("cpu", smoke=False, steps=7, seeds=[3, 4], size=None, carvana="/data/carvana")
    assert (s.steps, s.seeds, s.size, s.carvana) == (7, (3, 4), SIZES["ablations", "cpu"]["size"], "/data/carvana")
    assert s.given == ("steps", "seeds", "carvana")
    text = s.describe()
    assert "Set by you: STEPS, SEEDS, CARVANA." in text and "Carvana (/data/carvana)" in text and "7 steps" in text


@pytest.mark.parametrize(
    ("given", "error", "message"),
    [
        (dict(stepz=3), TypeError, r"unknown setting\(s\) \['stepz'\]"),
        (dict(size=48, layers=5), ValueError, r"SIZE 48 must be a multiple of 2\*\*LAYERS = 32"),
        (dict(seeds=()), ValueError, "SEEDS is empty"),
    ],
)
def test_bad_settings_say_what_to_change(given, error, message):
    with pytest.raises(error, match=message):
        ablation_settings("cpu", smoke=False, **given)


def test_every_arm_and_seed_gets_its_own_discoverable_folder(tmp_path):
    s = tiny()
    folders = {s.run_folder(t, arm, seed) for t, arms in ab.TASKS.items() for arm in arms for seed in (0, 1)}
    assert len(folders) == 2 * (len(ab.INPAINTING_ARMS) + len(ab.SEGMENTATION_ARMS))
    assert all(f.parent == output_dir() / "runs" and f.name.startswith("ablation-") for f in folders)
    assert s.run_folder("inpainting", "gated", 1).name.endswith("-gated-seed1")
    assert s.run_folder("inpainting", "partial", 0, root=tmp_path).parent == tmp_path
    # settings that shape a run change its folder, so a run is never resumed by other settings
    assert tiny(steps=3).run_folder("inpainting", "partial", 0) != s.run_folder("inpainting", "partial", 0)
    assert tiny(carvana="x").run_folder("segmentation", "zeros", 0) != s.run_folder("segmentation", "zeros", 0)
    with pytest.raises(ValueError, match=r"unknown inpainting arm 'plain'; the arms are \['partial', 'plain-0.5'"):
        s.run_folder("inpainting", "plain", 0)
    with pytest.raises(ValueError, match="task must be one of"):
        s.run_folder("detection", "partial", 0)


def test_the_arms_differ_only_in_their_convolution_or_padding():
    s = tiny()
    nets = {arm: ab.arm_model(s, "inpainting", arm, seed=5) for arm in ab.INPAINTING_ARMS}
    assert {arm: (n.config["conv"], n.config["hole_value"]) for arm, n in nets.items()} == {
        "partial": ("partial", 0.5),
        "plain-0.5": ("plain", 0.5),
        "plain-imagenet": ("plain", "imagenet"),
        "gated": ("gated", 0.5),
    }
    for n in nets.values():
        assert (n.config["layers"], n.config["base_channels"]) == (s.layers, s.base_channels)
    # the same seed, the same weights; another seed, others
    again = ab.arm_model(s, "inpainting", "partial", seed=5).state_dict()
    other = ab.arm_model(s, "inpainting", "partial", seed=6).state_dict()
    first = nets["partial"].state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not all(torch.equal(first[k], other[k]) for k in first)
    zeros, partial = (ab.arm_model(s, "segmentation", arm, 0) for arm in ("zeros", "partial"))
    assert (zeros.config["padding"], partial.config["padding"]) == ("zeros", "partial")
    assert zeros.config["features"] == list(s.seg_features)


def test_the_data_is_seeded_and_the_segmentation_held_out_set_is_fixed():
    s = tiny()
    (a, _), (b, _), (c, _) = (ab.arm_data(s, "inpainting", seed) for seed in (0, 0, 1))
    assert torch.equal(a[0]["image"], b[0]["image"]) and torch.equal(a[0]["mask"], b[0]["mask"])
    assert not torch.equal(a[0]["image"], c[0]["image"])
    assert a[0]["image"].shape == (3, s.size, s.size)
    (t0, v0), (t1, v1) = ab.arm_data(s, "segmentation", 0), ab.arm_data(s, "segmentation", 1)
    assert torch.equal(v0[0]["image"], v1[0]["image"]) and not torch.equal(t0[0]["image"], t1[0]["image"])
    assert len(v0) == s.synthetic[1] and v0[0]["image"].shape[-2:] == s.seg_size


class StopAtStep:
    """Interrupts training at `step`, as the notebook's stop button does."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, trainer, step, terms):
        if step == self.step:
            raise KeyboardInterrupt


def test_an_arm_trains_checkpoints_resumes_and_is_found_like_any_run():
    s = tiny(steps=3)
    with pytest.raises(KeyboardInterrupt, match=r"inpainting arm 'gated', seed 0 stopped at step 1; run again"):
        ab.train_arm(s, "inpainting", "gated", 0, callbacks=[StopAtStep(1)])
    folder = s.run_folder("inpainting", "gated", 0)
    assert load_checkpoint(folder / "ckpt_1.pt")["step"] == 1
    run = ab.train_arm(s, "inpainting", "gated", 0)  # resumes from step 1
    assert (run.steps, run.arm, run.seed, run.folder) == (3, "gated", 0, folder)
    ckpt = load_checkpoint(run.checkpoint)
    assert ckpt["step"] == 3 and [r["step"] for r in ckpt["history"] if "val/psnr" in r] == [3]
    assert math.isfinite(run.score) and run.score == ckpt["history"][-1]["val/psnr"]
    model = model_from_checkpoint(run.checkpoint)
    assert (model.config["conv"], model.config["hole_value"]) == ("gated", 0.5)
    assert run.checkpoint in find_checkpoints()  # 04_evaluate and the studio list it
    mtime = run.checkpoint.stat().st_mtime_ns
    again = ab.train_arm(s, "inpainting", "gated", 0)  # finished: nothing is trained or written again
    assert again.steps == 3 and again.checkpoint.stat().st_mtime_ns == mtime
    assert "gated           seed 0: 3 steps in" in run.line() and "val PSNR" in run.line()


def test_a_segmentation_arm_trains_the_padding_it_names():
    run = ab.train_arm(tiny(), "segmentation", "partial", 0)
    ckpt = load_checkpoint(run.checkpoint)
    assert ckpt["config"]["task"] == "segmentation" and ckpt["step"] == run.steps == tiny().seg_steps
    assert model_from_checkpoint(run.checkpoint).config["padding"] == "partial"
    assert "val Dice" in run.line() and 0 <= run.score <= 1


def test_train_arms_runs_every_arm_seed_by_seed_and_reports_each(monkeypatch, tmp_path):
    calls = []

    def fake_train_arm(settings, task, arm, seed, *, root=None, callbacks=()):
        calls.append((task, arm, seed, root))
        return ab.ArmRun(task, arm, seed, tmp_path, tmp_path / "best.pt", settings.seg_steps, 0.5, 0.75)

    monkeypatch.setattr(ab, "train_arm", fake_train_arm)
    s = ablation_settings("cpu", smoke=True, seeds=(0, 1))
    lines = []
    runs = train_arms(s, "segmentation", root=tmp_path, report=lines.append)
    assert [(r.arm, r.seed) for r in runs] == [("zeros", 0), ("partial", 0), ("zeros", 1), ("partial", 1)]
    assert calls == [("segmentation", arm, seed, tmp_path) for seed in (0, 1) for arm in ("zeros", "partial")]
    assert lines == [r.line() for r in runs] and lines[0].startswith("zeros           seed 0: 2 steps in 0 s")
    assert [r.arm for r in train_arms(s, "inpainting", arms=["gated"], report=None)] == ["gated", "gated"]
    calls.clear()
    with pytest.raises(ValueError, match="unknown segmentation arm 'gated'"):
        train_arms(s, "segmentation", arms=["zeros", "gated"])
    assert calls == []  # refused before anything trains
    with pytest.raises(ValueError, match="task must be one of"):
        train_arms(s, "classification")
