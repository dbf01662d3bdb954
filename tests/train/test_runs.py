"""Tests for pconv.train.runs: the checkpoint that stands for a run, finding runs, rebuilding their models."""

from __future__ import annotations

import logging
import os

import pytest
import torch

from pconv.nn import PConvUNet, UNet
from pconv.train import (
    CheckpointError,
    best_runs,
    checkpoint_task,
    find_checkpoints,
    load_models,
    model_info,
    run_checkpoint,
    save_checkpoint,
)
from pconv.train.runs import MIN_STEPS, run_folders


def write(path, model, task="inpainting", step=1, mtime=None):
    """A checkpoint as the trainer writes it (the keys the readers use)."""
    config = {"size": 32, "model": model_info(model)}
    if task is not None:
        config["task"] = task
    save_checkpoint({"step": step, "model": model.state_dict(), "config": config}, path)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def tiny() -> PConvUNet:
    return PConvUNet(layers=2, base_channels=4, max_channels=8)


def test_run_checkpoint_prefers_best_then_the_newest_step(tmp_path):
    assert run_checkpoint(tmp_path) is None and run_checkpoint(tmp_path / "missing") is None
    model = tiny()
    write(tmp_path / "ckpt_9.pt", model, step=9)
    write(tmp_path / "ckpt_10.pt", model, step=10)  # newest by step, not by name
    (tmp_path / "notes.pt").write_bytes(b"")  # not a checkpoint name
    assert run_checkpoint(tmp_path) == tmp_path / "ckpt_10.pt"
    write(tmp_path / "best.pt", model)
    assert run_checkpoint(tmp_path) == tmp_path / "best.pt"


def test_run_folders_are_the_folders_under_the_runs_root_by_name(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    assert run_folders(runs) == []
    for name in ("b", "a", "c"):
        (runs / name).mkdir(parents=True)
    (runs / "stray.pt").write_bytes(b"")  # a file beside the run folders
    assert run_folders(runs) == [runs / "a", runs / "b", runs / "c"]
    monkeypatch.setenv("PCONV_OUTPUT_DIR", str(tmp_path))
    assert run_folders() == [runs / "a", runs / "b", runs / "c"]


def test_find_checkpoints_keeps_one_per_run_of_the_task_oldest_first(tmp_path):
    runs = tmp_path / "runs"
    write(runs / "b" / "ckpt_4.pt", tiny(), mtime=2_000)
    write(runs / "b" / "best.pt", tiny(), mtime=1_000)  # best.pt stands for run b, dated by its own time
    write(runs / "a" / "ckpt_2.pt", tiny(), mtime=3_000)
    write(runs / "c" / "best.pt", tiny(), task=None, mtime=500)  # older checkpoints record no task: inpainting
    write(runs / "seg" / "best.pt", UNet(features=(4, 8)), task="segmentation", mtime=100)
    (runs / "empty").mkdir()
    (runs / "broken").mkdir()
    (runs / "broken" / "best.pt").write_bytes(b"not a checkpoint")
    (runs / "stray.pt").write_bytes(b"")  # a file beside the run folders
    found = find_checkpoints(runs)
    assert found == [runs / "c" / "best.pt", runs / "b" / "best.pt", runs / "a" / "ckpt_2.pt"]
    assert find_checkpoints(runs, task="segmentation") == [runs / "seg" / "best.pt"]
    assert len(find_checkpoints(runs, task=None)) == 4  # a run whose only checkpoint is unreadable has none
    assert checkpoint_task(runs / "broken" / "best.pt") is None
    assert find_checkpoints(tmp_path / "nowhere") == []


def test_find_checkpoints_defaults_to_the_output_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PCONV_OUTPUT_DIR", str(tmp_path))
    path = write(tmp_path / "runs" / "r1" / "ckpt_3.pt", tiny())
    assert find_checkpoints() == [path]


def test_load_models_names_each_by_run_and_file(tmp_path):
    torch.manual_seed(0)
    first, second = tiny(), PConvUNet(layers=3, base_channels=4, max_channels=8)
    paths = [write(tmp_path / "r1" / "best.pt", first), write(tmp_path / "r2" / "ckpt_7.pt", second)]
    models = load_models(paths)
    assert list(models) == ["r1/best", "r2/ckpt_7"]
    assert models["r2/ckpt_7"].layers == 3 and not models["r2/ckpt_7"].training
    for key, value in first.state_dict().items():
        assert torch.equal(models["r1/best"].state_dict()[key], value)
    with pytest.raises(ValueError, match="given twice"):
        load_models([paths[0], paths[0]])
    with pytest.raises(CheckpointError, match="missing.pt does not exist"):
        load_models([tmp_path / "missing.pt"])


@pytest.mark.parametrize("junk", ["corrupt", "nan", "malformed-step"])
def test_a_junk_checkpoint_with_a_higher_name_does_not_hide_the_good_one(tmp_path, junk, caplog):
    good = write(tmp_path / "run" / "ckpt_4.pt", tiny(), step=4)
    bad = tmp_path / "run" / "ckpt_50.pt"
    if junk == "corrupt":
        bad.write_bytes(b"\x00" * 64)
    else:
        model = tiny()
        if junk == "nan":
            with torch.no_grad():
                next(iter(model.parameters())).view(-1)[0] = float("nan")
        write(bad, model, step=50)
        if junk == "malformed-step":  # it loads, but its step is text
            ck = torch.load(bad, weights_only=True)
            torch.save({**ck, "step": "50"}, bad)
    with caplog.at_level(logging.INFO, logger="pconv.train.trainer"):
        assert run_checkpoint(tmp_path / "run") == good
    assert "skipped ckpt_50.pt" in caplog.text
    assert find_checkpoints(tmp_path) == [good]


def test_a_nan_weight_checkpoint_is_refused_not_scored(tmp_path):
    model = tiny()
    with torch.no_grad():
        next(iter(model.parameters())).view(-1)[0] = float("inf")
    path = write(tmp_path / "r1" / "best.pt", model)
    with pytest.raises(CheckpointError, match=r"best\.pt.*not finite"):
        load_models([path])
    assert run_checkpoint(tmp_path / "r1") is None


# ---------------------------------------------------------------- ranking the runs (issue 22)


def run(root, name, steps, psnr=None, size=32, best_at=None, config=None, task="inpainting"):
    """A run folder: ckpt_<steps>.pt, and best.pt at `best_at` (default: the last step) when it validated."""
    model = tiny()
    cfg = {"size": size, "model": model_info(model), "task": task, **(config or {})}
    best = {"metric": "val/psnr", "value": psnr, "step": best_at or steps}
    history = [{"step": best_at or steps, "val/psnr": psnr}] if psnr is not None else []
    ckpt = {"step": steps, "model": model.state_dict(), "config": cfg, "best": best, "history": history}
    save_checkpoint(ckpt, root / name / f"ckpt_{steps}.pt")
    if psnr is not None:
        save_checkpoint({**ckpt, "step": best_at or steps}, root / name / "best.pt")
    return root / name


def test_best_runs_ranks_by_validation_psnr_and_leaves_out_smoke_runs(tmp_path):
    runs = tmp_path / "runs"
    run(runs, "a-long", 2000, psnr=24.0, size=64, best_at=1600)
    run(runs, "b-better", 500, psnr=26.5, size=[96, 128])
    run(runs, "c-smoke", 4, psnr=31.0)  # the best score, but 4 steps: noise
    run(runs, "d-unvalidated", 900)  # stopped before its first validation: after the scored ones
    run(runs, "e-seg", 800, task="segmentation")
    (runs / "f-empty").mkdir()
    ranked = best_runs(runs)
    assert [r.name for r in ranked] == ["b-better", "a-long", "d-unvalidated"]
    b, a, d = ranked
    assert (b.score, b.metric, b.steps, b.size, b.checkpoint) == (
        26.5,
        "val/psnr",
        500,
        128,
        runs / "b-better" / "best.pt",
    )
    assert (a.steps, a.size, a.folder) == (2000, 64, runs / "a-long")  # best.pt is step 1600's; the run went on
    assert d.score is None and d.checkpoint == runs / "d-unvalidated" / "ckpt_900.pt"
    assert [r.name for r in best_runs(runs, min_steps=0)] == ["c-smoke", "b-better", "a-long", "d-unvalidated"]
    assert [r.name for r in best_runs(runs, limit=1)] == ["b-better"]
    assert [r.name for r in best_runs(runs, task="segmentation")] == ["e-seg"]
    assert best_runs(runs, task="segmentation")[0].metric == "val/dice"
    assert best_runs(tmp_path / "nowhere") == []
    assert MIN_STEPS == 200 and best_runs(runs, min_steps=MIN_STEPS + 1000)[0].name == "a-long"


def test_best_runs_reads_the_history_when_the_best_entry_is_missing_or_not_finite(tmp_path):
    root = run(tmp_path, "r", 400, psnr=float("nan"))
    ckpt = torch.load(root / "best.pt", weights_only=True)
    ckpt["history"] = [{"step": 200, "val/psnr": 18.0}, {"step": 400, "val/psnr": float("nan")}]
    torch.save(ckpt, root / "best.pt")
    assert best_runs(tmp_path)[0].score == 18.0


def test_best_runs_defaults_to_the_output_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("PCONV_OUTPUT_DIR", str(tmp_path))
    run(tmp_path / "runs", "r1", 300, psnr=20.0)
    assert [r.name for r in best_runs()] == ["r1"]


def test_the_quickstart_run_and_the_conv_kind_are_recognised(tmp_path):
    from pconv.train import SIZES

    for kind in ("cpu", "cuda", "smoke"):
        spec = SIZES["quickstart", kind]
        config = {
            "model": {
                "name": spec.get("model_name", "PConvUNet"),
                "kwargs": {**spec["model_kwargs"], "in_channels": 3},
            },
            "batch_size": spec["train_kwargs"]["batch_size"],
            "lr": spec["train_kwargs"]["lr"],
        }
        run(tmp_path / kind, "quick", 300, psnr=20.0, size=spec["size"], config=config)
        assert best_runs(tmp_path / kind)[0].recipe == f"quickstart-{kind}"
        config["lr"] *= 2  # another learning rate: not the recipe any more
        run(tmp_path / kind, "other", 300, psnr=20.0, size=spec["size"], config=config)
        assert {r.name: r.recipe for r in best_runs(tmp_path / kind)}["other"] is None
    plain = run(tmp_path / "p", "plain", 300, psnr=20.0)
    assert best_runs(tmp_path / "p")[0].conv == "partial"
    ckpt = torch.load(plain / "best.pt", weights_only=True)
    ckpt["config"]["model"]["kwargs"]["conv"] = "gated"
    torch.save(ckpt, plain / "best.pt")
    assert best_runs(tmp_path / "p")[0].conv == "gated"


@pytest.mark.parametrize("bad", [{"min_steps": -1}, {"min_steps": 2.5}, {"limit": -2}, {"limit": True}])
def test_best_runs_refuses_impossible_arguments(tmp_path, bad):
    with pytest.raises(ValueError, match=f"{next(iter(bad))} must be"):
        best_runs(tmp_path, **bad)
