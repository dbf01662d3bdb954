"""pconv.train.checkpoint: atomic writes (a full disk is a WriteFailedError), trustworthy loading with clear
messages, the newest checkpoint that passes its checks by recorded step."""

from __future__ import annotations

import errno

import pytest
import torch
from tiny_run import BAD_FIELDS, nan_model, training_ckpt

from pconv.train import checkpoint as ckpt_mod
from pconv.train.checkpoint import (
    CheckpointError,
    CheckpointWriteError,
    checkpoint_step,
    load_checkpoint,
    load_latest,
    newest_good,
    save_checkpoint,
)
from pconv.utils import WriteFailedError


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


def test_resume_candidates_are_ordered_by_recorded_step(tmp_path):
    save_checkpoint(training_ckpt(4), tmp_path / "ckpt_4.pt")
    save_checkpoint(training_ckpt(2), tmp_path / "ckpt_99.pt")  # a copy of an older checkpoint under a higher name
    (tmp_path / "ckpt_100.pt").write_bytes(b"corrupt")
    said: list[str] = []
    path, ckpt = load_latest(tmp_path, warn=said.append)
    assert path.name == "ckpt_4.pt" and ckpt["step"] == 4
    assert any("ckpt_100.pt" in w for w in said)


WRITE_FAILURES = {
    "torch-full-disk": RuntimeError(
        "[enforce fail at inline_container.cc:626] . PytorchStreamWriter failed writing file data/0: file write failed"
    ),
    "enospc": OSError(errno.ENOSPC, "No space left on device"),
    "read-only": OSError(errno.EROFS, "Read-only file system"),
}


@pytest.mark.parametrize("failure", WRITE_FAILURES.values(), ids=WRITE_FAILURES.keys())
def test_a_failed_write_is_a_write_failed_error_naming_the_file_and_leaves_the_old_one(tmp_path, monkeypatch, failure):
    path = tmp_path / "ckpt_1.pt"
    write(path, 1)

    def dying_save(obj, f):
        f.write(b"partial bytes")
        raise failure

    monkeypatch.setattr(ckpt_mod.torch, "save", dying_save)
    with pytest.raises(WriteFailedError, match="ckpt_1.pt") as e:
        write(path, 2)
    assert "free some space" in str(e.value) or "read-only" in str(e.value)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt_1.pt"]


def test_a_real_bug_while_saving_keeps_its_own_error(tmp_path, monkeypatch):
    def buggy_save(obj, f):
        raise RuntimeError("some other failure inside torch.save")

    monkeypatch.setattr(ckpt_mod.torch, "save", buggy_save)
    with pytest.raises(RuntimeError, match="some other failure") as e:
        write(tmp_path / "ckpt_1.pt", 1)
    assert not isinstance(e.value, WriteFailedError) and list(tmp_path.iterdir()) == []


def test_checkpoint_write_error_is_a_write_failed_error():
    assert issubclass(CheckpointWriteError, WriteFailedError) and issubclass(CheckpointWriteError, CheckpointError)


@pytest.mark.parametrize("spoil", BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_resume_takes_the_newest_checkpoint_that_passes_and_says_which_it_skipped(tmp_path, spoil):
    save_checkpoint(training_ckpt(4), tmp_path / "ckpt_4.pt")
    save_checkpoint(spoil(training_ckpt(6)), tmp_path / "ckpt_6.pt")
    with pytest.raises(CheckpointError, match=r"ckpt_6\.pt"):
        load_checkpoint(tmp_path / "ckpt_6.pt", resume=True)
    said: list[str] = []
    path, ckpt = load_latest(tmp_path, warn=said.append)
    assert path.name == "ckpt_4.pt" and ckpt["step"] == 4
    assert len(said) == 1 and "skipped ckpt_6.pt" in said[0] and "cannot be" in said[0]


def test_a_good_checkpoint_passes_and_a_converted_one_needs_no_training_fields(tmp_path):
    save_checkpoint(training_ckpt(4), tmp_path / "ckpt_4.pt")
    assert load_checkpoint(tmp_path / "ckpt_4.pt", resume=True)["step"] == 4
    write(tmp_path / "converted.pt", 0, config={"model": {"name": "PConvUNet", "kwargs": {}}, "size": 256})
    assert load_checkpoint(tmp_path / "converted.pt")["step"] == 0  # evaluate reads it; a resume would not
    with pytest.raises(CheckpointError, match="no optimizer and no rng"):
        load_checkpoint(tmp_path / "converted.pt", resume=True)


@pytest.mark.parametrize("junk", ["corrupt", "nan", "malformed"])
def test_newest_good_is_by_recorded_step_and_skips_junk(tmp_path, junk):
    save_checkpoint(training_ckpt(4), tmp_path / "ckpt_4.pt")
    if junk == "corrupt":
        (tmp_path / "ckpt_50.pt").write_bytes(b"\x00" * 100)
    else:
        save_checkpoint(nan_model(training_ckpt(50)) if junk == "nan" else training_ckpt("50"), tmp_path / "ckpt_50.pt")
    save_checkpoint(training_ckpt(2), tmp_path / "ckpt_99.pt")  # a higher name, an older step
    said: list[str] = []
    assert newest_good(tmp_path, warn=said.append) == tmp_path / "ckpt_4.pt"
    assert said and all("ckpt_50.pt" in w for w in said)
    save_checkpoint(nan_model(training_ckpt(5)), tmp_path / "best.pt")
    assert newest_good(tmp_path, warn=said.append) == tmp_path / "ckpt_4.pt"  # a bad best.pt does not stand either
    save_checkpoint(training_ckpt(3), tmp_path / "best.pt")
    assert newest_good(tmp_path) == tmp_path / "best.pt"
    assert newest_good(tmp_path, best=False) == tmp_path / "ckpt_4.pt"  # best.pt left out when asked
    assert newest_good(tmp_path / "missing") is None
