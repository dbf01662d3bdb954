"""pconv.checkpoint: atomic writes, trustworthy loading with clear messages, pruning by recorded step."""

from __future__ import annotations

import errno

import pytest
import torch

from pconv import checkpoint as ckpt_mod
from pconv.checkpoint import (
    CheckpointError,
    checkpoint_step,
    describe_model_mismatch,
    load_checkpoint,
    load_latest,
    prune_checkpoints,
    save_checkpoint,
)


def write(path, step, **extra):
    save_checkpoint({"step": step, "model": {"w": torch.full((2,), float(step))}, **extra}, path)


def test_atomic_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt_1.pt"
    save_checkpoint({"step": 1, "model": {"w": torch.ones(3)}}, path)

    def dying_save(obj, f):
        f.write(b"partial bytes")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt_mod.torch, "save", dying_save)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint({"step": 2, "model": {"w": torch.zeros(3)}}, path)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt_1.pt"]  # no temporary file left


class NotATensor:  # any Python class: weights_only loading refuses it
    pass


def test_a_pickle_with_python_objects_is_not_trusted_and_no_unsafe_advice_is_passed_on(tmp_path):
    path = tmp_path / "ckpt_1.pt"
    torch.save({"step": 1, "model": {}, "extra": NotATensor()}, path)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    text = str(e.value)
    assert "not a checkpoint pconv trusts" in text and str(path) in text and "NotATensor" in text
    assert "weights_only=False" not in text and "likely succeed" not in text and "\x1b[" not in text
    assert e.value.__cause__ is None  # the chained PyTorch message (with its advice) is not shown either


def test_a_folder_is_not_called_missing(tmp_path):
    write(tmp_path / "ckpt_3.pt", 3)
    with pytest.raises(CheckpointError, match="is a folder, not a checkpoint file") as e:
        load_checkpoint(tmp_path)
    assert "does not exist" not in str(e.value) and "ckpt_3.pt" in str(e.value)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nothing.pt")


def test_checkpoint_step_reads_the_recorded_step_or_none(tmp_path):
    write(tmp_path / "ckpt_99.pt", 2)
    (tmp_path / "ckpt_5.pt").write_bytes(b"\x00" * 64)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "ckpt_6.pt")
    assert checkpoint_step(tmp_path / "ckpt_99.pt") == 2
    assert checkpoint_step(tmp_path / "ckpt_5.pt") is None and checkpoint_step(tmp_path / "ckpt_6.pt") is None


def test_prune_orders_by_recorded_step_and_never_touches_unreadable_or_newer_files(tmp_path):
    for step in (2, 4, 6):
        write(tmp_path / f"ckpt_{step}.pt", step)
    (tmp_path / "ckpt_99.pt").write_bytes(b"corrupt")  # stale and unreadable: not ours to delete
    write(tmp_path / "ckpt_50.pt", 1)  # a misnamed old checkpoint: its recorded step (1) counts
    deleted = prune_checkpoints(tmp_path, keep_last=1, newest=tmp_path / "ckpt_4.pt")
    assert sorted(p.name for p in deleted) == ["ckpt_2.pt", "ckpt_50.pt"]
    # ckpt_6 holds a later step than the newest of this run: left alone; ckpt_99 cannot be read: left alone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_4.pt", "ckpt_6.pt", "ckpt_99.pt"]
    deleted = prune_checkpoints(tmp_path, keep_last=1)  # newest: the highest recorded step
    assert [p.name for p in deleted] == ["ckpt_4.pt"]


def test_resume_candidates_are_ordered_by_recorded_step(tmp_path):
    write(tmp_path / "ckpt_4.pt", 4)
    write(tmp_path / "ckpt_99.pt", 2)  # a copy of an older checkpoint under a higher name
    (tmp_path / "ckpt_100.pt").write_bytes(b"corrupt")
    said: list[str] = []
    path, ckpt = load_latest(tmp_path, warn=said.append)
    assert path.name == "ckpt_4.pt" and ckpt["step"] == 4
    assert any("ckpt_100.pt" in w for w in said)


def test_model_mismatch_names_the_saved_configuration():
    saved = {"name": "PConvUNet", "kwargs": {"layers": 3, "base_channels": 8, "in_channels": 3}}
    now = {"name": "PConvUNet", "kwargs": {"layers": 4, "base_channels": 8, "in_channels": 3}}
    text = describe_model_mismatch(saved, now)
    assert "layers=3" in text and "--layers 3" in text and "now 4" in text and "base_channels" not in text
    assert describe_model_mismatch(saved, saved) is None
    other = describe_model_mismatch({"name": "UNet", "kwargs": {}}, now)
    assert "UNet" in other and "PConvUNet" in other
