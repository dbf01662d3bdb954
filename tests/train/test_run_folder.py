"""pconv.train.run_folder: one run per folder (an OS lock, tested with second processes), write checks, clean-up."""

from __future__ import annotations

import errno
import logging
import os

import pytest
import torch
from run_lock import hold_lock
from tiny_run import Pairs, make_trainer

from pconv.train import run_folder as runfolder
from pconv.train import save_checkpoint
from pconv.train.run_folder import RunExistsError, RunFolder, RunFolderError, RunLockedError, prune_checkpoints


def test_a_second_run_is_refused_naming_the_folder_and_the_holder(tmp_path):
    out = tmp_path / "run"
    holder = hold_lock(out)
    try:
        t = make_trainer(tmp_path, steps=2)
        with pytest.raises(RunLockedError) as e:
            t.fit(Pairs())
        assert str(out) in str(e.value) and f"PID {holder.pid}" in str(e.value)
        assert t.step == 0 and not list(out.glob("ckpt_*.pt"))  # nothing was trained or written
    finally:
        holder.stdin.close()
        holder.wait(60)
    make_trainer(tmp_path, steps=2).fit(Pairs())  # the holder ended normally: the folder is free
    assert (out / "ckpt_2.pt").exists()


def test_a_lock_left_by_a_killed_process_does_not_block(tmp_path):
    out = tmp_path / "run"
    holder = hold_lock(out)
    holder.kill()  # SIGKILL: no clean-up code runs, as in a crash or an out-of-memory kill
    holder.wait(60)
    assert (out / runfolder.LOCK_NAME).exists()  # the file is left behind, the lock is not
    t = make_trainer(tmp_path, steps=2)
    t.fit(Pairs())
    assert t.step == 2


def test_the_lock_is_per_folder_and_released_when_fit_ends_or_fails(tmp_path):
    out = tmp_path / "run"
    with RunFolder(out).locked():
        with pytest.raises(RunLockedError, match=f"PID {os.getpid()}"):  # even from this same process
            with RunFolder(out).locked():
                pass
        with RunFolder(tmp_path / "other").locked():  # another folder is another lock
            pass
    t = make_trainer(tmp_path, steps=2)
    t.fit(Pairs())
    with pytest.raises(RunExistsError, match="already holds checkpoints"):
        make_trainer(tmp_path, steps=2).fit(Pairs())  # fails after taking the lock ...
    with RunFolder(out).locked():  # ... and released it
        pass


def test_without_os_locks_a_warning_says_so(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(runfolder, "fcntl", None)
    with caplog.at_level(logging.WARNING, logger="pconv.train.trainer"), RunFolder(tmp_path / "run").locked():
        pass
    assert "cannot lock" in caplog.text


def test_an_unwritable_folder_is_refused_before_the_first_step(tmp_path, monkeypatch):
    def refused(path, *args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr(runfolder, "open", refused, raising=False)  # what a read-only folder does to a write
    steps = []

    class Count:
        def on_step_end(self, trainer, step, terms):
            steps.append(step)

    with pytest.raises(RunFolderError, match="cannot write") as e:
        make_trainer(tmp_path, steps=2, callbacks=[Count()]).fit(Pairs())
    assert str(tmp_path / "run") in str(e.value) and "Permission denied" in str(e.value) and steps == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    out.chmod(0o500)
    try:
        with pytest.raises(RunFolderError, match="cannot write"):
            make_trainer(tmp_path, steps=2).fit(Pairs())
    finally:
        out.chmod(0o700)


def test_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "run").write_text("my notes")
    with pytest.raises(RunFolderError, match="is a file, not a folder"):
        make_trainer(tmp_path, steps=2).fit(Pairs())
    assert (tmp_path / "run").read_text() == "my notes"


def test_stale_temporary_files_of_a_killed_save_are_removed_on_the_next_start(tmp_path, caplog):
    make_trainer(tmp_path, steps=2).fit(Pairs())
    out = tmp_path / "run"
    stale = [out / ".ckpt_4.pt.tmp-99999", out / ".history.json.tmp-12", out / ".best.pt.tmp-7"]
    for p in stale:
        p.write_bytes(b"half a checkpoint")
    mine = [out / "notes.tmp", out / ".tmp-ideas", out / ".ckpt_4.pt.tmp-x"]  # not pconv's pattern: kept
    for p in mine:
        p.write_text("keep me")
    with caplog.at_level(logging.INFO, logger="pconv.train.trainer"):
        make_trainer(tmp_path, steps=3).fit(Pairs(), resume=True)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in mine)
    assert "3 temporary file(s)" in caplog.text


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


def write(path, step):
    save_checkpoint({"step": step, "model": {"w": torch.full((2,), float(step))}}, path)


def test_deleting_the_lock_file_does_not_let_a_second_run_in(tmp_path):
    out = tmp_path / "run"
    holder = hold_lock(out)
    try:
        (out / runfolder.LOCK_NAME).unlink()  # a user tidying up, or a clean-up script
        with pytest.raises(RunLockedError, match=str(out)):
            with RunFolder(out).locked():
                pass
        (out / runfolder.LOCK_NAME).write_text("")  # a new, empty lock file: still refused
        with pytest.raises(RunLockedError):
            make_trainer(tmp_path, steps=2).fit(Pairs())
        assert not list(out.glob("ckpt_*.pt"))
    finally:
        holder.stdin.close()
        holder.wait(60)
    with RunFolder(out).locked():  # released with its holder
        pass


def test_a_lock_file_replaced_between_open_and_lock_is_not_trusted(tmp_path, monkeypatch):
    out = tmp_path / "run"
    out.mkdir()
    real_flock, swapped = runfolder.fcntl.flock, []

    def flock_then_swap(fd, op):
        real_flock(fd, op)
        if not swapped and op != runfolder.fcntl.LOCK_UN and os.path.exists(out / runfolder.LOCK_NAME):
            if os.fstat(fd).st_ino == os.stat(out / runfolder.LOCK_NAME).st_ino:
                swapped.append(1)  # another process deletes and re-creates the file right after our lock
                (out / runfolder.LOCK_NAME).unlink()
                (out / runfolder.LOCK_NAME).write_text("")

    monkeypatch.setattr(runfolder.fcntl, "flock", flock_then_swap)
    with RunFolder(out).locked():
        assert swapped  # we locked the file that the path names now, not the deleted one
        assert (out / runfolder.LOCK_NAME).read_text().strip() == str(os.getpid())


def test_a_dangling_symlink_out_says_so_not_permissions(tmp_path):
    (tmp_path / "run").symlink_to(tmp_path / "gone" / "run")
    with pytest.raises(RunFolderError, match="symlink") as e:
        make_trainer(tmp_path, steps=2).fit(Pairs())
    assert "gone" in str(e.value) and "permissions" not in str(e.value)


def test_a_full_disk_at_the_write_check_says_to_free_space(tmp_path, monkeypatch):
    def full(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(runfolder, "open", full, raising=False)
    with pytest.raises(RunFolderError, match="free some space"):
        make_trainer(tmp_path, steps=2).fit(Pairs())


@pytest.mark.parametrize(
    "failure", [OSError(errno.ENOSPC, "No space left"), OSError(errno.EIO, "I/O error")], ids=["enospc", "eio"]
)
def test_a_sample_figure_that_cannot_be_written_leaves_no_half_file(tmp_path, monkeypatch, caplog, failure):
    import matplotlib.pyplot as plt

    folder = RunFolder(tmp_path / "run")
    fig = plt.figure()
    folder.save_figure(fig, "samples/a.png")
    before = (tmp_path / "run" / "samples" / "a.png").read_bytes()

    def half(path, **kwargs):
        with open(path, "wb") as f:
            f.write(b"half a png")
        raise failure

    monkeypatch.setattr(fig, "savefig", half)
    with caplog.at_level(logging.WARNING, logger="pconv.train.trainer"):
        folder.save_figure(fig, "samples/a.png")
        folder.save_figure(fig, "samples/b.png")
    plt.close(fig)
    assert (tmp_path / "run" / "samples" / "a.png").read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == ["a.png"]
    assert "could not save the sample figure" in caplog.text and "b.png" in caplog.text
