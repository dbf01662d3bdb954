"""Tests for pconv.train.runs: the checkpoint that stands for a run, finding runs, rebuilding their models."""

from __future__ import annotations

import logging
import os

import pytest
import torch

from pconv.nn import PConvUNet, UNet
from pconv.train import (
    CheckpointError,
    checkpoint_task,
    find_checkpoints,
    load_models,
    model_info,
    run_checkpoint,
    save_checkpoint,
)
from pconv.train.runs import run_folders


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
