"""pconv.train.trainer on tiny stand-in models (CPU, seconds): schedule, checkpoints, resume, signals, failed writes."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal

import matplotlib.figure
import pytest
import torch
from tiny_run import Pairs, TinyInpaint, cfg, l1_terms, make_trainer
from torch import nn
from torch.utils.data import DataLoader, Dataset

from pconv.train import (
    CheckpointError,
    RunExistsError,
    TrainConfig,
    Trainer,
    list_checkpoints,
    load_checkpoint,
)
from pconv.train import checkpoint as ckpt_mod
from pconv.train import run_folder as runfolder
from pconv.train.checkpoint import CheckpointWriteError
from pconv.train.tasks import InpaintingTask, SegmentationTask
from pconv.utils import WriteFailedError


class InterruptAt:
    def __init__(self, step):
        self.step = step

    def on_step_end(self, trainer, step, terms):
        if step == self.step:
            raise KeyboardInterrupt


def test_fit_history_checkpoints_samples(tmp_path):
    t = make_trainer(tmp_path, steps=5, log_every=2, val_every=5, sample_every=5, checkpoint_every=2, keep_last=2)
    history = t.fit(Pairs(), Pairs(n=4))
    assert isinstance(t.task, InpaintingTask)
    assert [r["step"] for r in history] == [2, 4, 5]
    assert {"lr", "loss/total", "loss/hole", "loss/valid", "skipped"} <= set(history[0])
    assert {"val/psnr", "val/ssim", "val/l1"} <= set(history[-1])
    out = tmp_path / "run"
    assert json.loads((out / "history.json").read_text()) == history
    assert (out / "history.csv").read_text().splitlines()[0].startswith("step,lr,loss/")
    assert [s for s, _ in list_checkpoints(out)] == [4, 5]  # keep_last=2 pruned ckpt_2
    assert (out / "best.pt").exists() and (out / "samples" / "step_0000005.png").exists()
    ck = torch.load(out / "ckpt_5.pt", weights_only=True)
    assert ck["step"] == 5 and ck["config"]["model"] == {"name": "TinyInpaint", "kwargs": {}}
    assert ck["config"]["task"] == "inpainting" and ck["config"]["batch_size"] == 4
    assert ck["best"]["metric"] == "val/psnr" and ck["best"]["step"] == 5
    assert set(ck["rng"]) == {"torch", "cuda", "numpy", "python"}
    assert TrainConfig.from_dict(ck["config"]) == t.config


def test_resume_is_exact_after_interrupt(tmp_path):
    straight = make_trainer(tmp_path / "a", steps=6)
    straight.fit(Pairs())
    first = make_trainer(tmp_path / "b", steps=6, callbacks=[InterruptAt(3)])
    history = first.fit(Pairs())  # KeyboardInterrupt at step 3: checkpoint, clean return
    assert first.step == 3 and [r["step"] for r in history] == [1, 2, 3]
    assert [s for s, _ in list_checkpoints(tmp_path / "b" / "run")] == [3]
    second = make_trainer(tmp_path / "b", steps=6)
    history = second.fit(Pairs(), resume=True)
    assert second.step == 6 and [r["step"] for r in history] == [1, 2, 3, 4, 5, 6]
    for k, v in straight.model.state_dict().items():
        assert torch.equal(v, second.model.state_dict()[k]), k
    assert history == straight.history


def test_stop_flag_ends_with_checkpoint(tmp_path):
    class StopAt2:
        def on_step_end(self, trainer, step, terms):
            if step == 2:
                trainer.stop()

    t = make_trainer(tmp_path, steps=5, callbacks=[StopAt2()])
    t.fit(Pairs())
    assert t.step == 2 and load_checkpoint(tmp_path / "run" / "ckpt_2.pt")["step"] == 2


def test_refuses_to_overwrite_a_run(tmp_path):
    make_trainer(tmp_path, steps=2).fit(Pairs())
    with pytest.raises(RunExistsError, match="resume"):
        make_trainer(tmp_path, steps=2).fit(Pairs())
    t = make_trainer(tmp_path, steps=2)
    t.fit(Pairs(), resume=True)  # already done: nothing to train
    assert t.step == 2


def test_corrupt_checkpoint_error_and_resume_fallback(tmp_path, caplog):
    make_trainer(tmp_path, steps=4, checkpoint_every=2).fit(Pairs())
    out = tmp_path / "run"
    newest = out / "ckpt_4.pt"
    newest.write_bytes(newest.read_bytes()[:200])  # truncated
    with pytest.raises(CheckpointError, match="ckpt_4.pt"):
        load_checkpoint(newest)
    (out / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(out / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, out / "other.pt")
    with pytest.raises(CheckpointError, match="not a pconv checkpoint"):
        load_checkpoint(out / "other.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(out / "missing.pt")
    t = make_trainer(tmp_path, steps=6)
    with caplog.at_level(logging.INFO, logger="pconv.train.trainer"):
        t.fit(Pairs(), resume=True)
    assert "ckpt_4.pt" in caplog.text and "resumed from" in caplog.text and "ckpt_2.pt" in caplog.text
    assert t.step == 6 and [r["step"] for r in t.history] == [1, 2, 3, 4, 5, 6]


def test_keep_last_never_prunes_newest(tmp_path):
    t = make_trainer(tmp_path, steps=5, checkpoint_every=1, keep_last=1)
    t.fit(Pairs())
    assert [s for s, _ in list_checkpoints(tmp_path / "run")] == [5]


def test_two_phases_switch_lr_and_freeze_encoder_bn(tmp_path):
    t = make_trainer(tmp_path, steps=4, finetune_steps=2, lr=1e-3, finetune_lr=1e-4, val_every=3)
    bn_stats = []

    class Watch:
        def on_step_end(self, trainer, step, terms):
            bn_stats.append(trainer.model.bn.running_mean.clone())

    t.callbacks.append(Watch())
    history = t.fit(Pairs(), Pairs(n=4))
    assert [r["lr"] for r in history] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4])
    assert t.model.frozen and not t.model.bn.training and t.model.training
    assert not torch.equal(bn_stats[0], bn_stats[1]) and torch.equal(bn_stats[2], bn_stats[3])


class Blobs(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        image = torch.rand(3, 16, 16, generator=g)
        return image, (image[:1] > 0.5).float()  # an (image, target) pair works as well as a dict


def test_segmentation_task_and_dataloader_input(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 1, 1))
    loss = nn.BCEWithLogitsLoss()
    t = Trainer(net, loss, cfg(tmp_path, steps=3, val_every=3, sample_every=3))
    history = t.fit(DataLoader(Blobs(), batch_size=4, shuffle=True), Blobs())
    assert isinstance(t.task, SegmentationTask)
    assert {"val/dice", "val/iou"} <= set(history[-1]) and 0 <= history[-1]["val/dice"] <= 1
    assert (tmp_path / "run" / "samples" / "step_0000003.png").exists()


def test_validation_rows_keep_the_loss_window(tmp_path):
    history = make_trainer(tmp_path, steps=4, log_every=4, val_every=3).fit(Pairs(), Pairs(n=4))
    assert [r["step"] for r in history] == [3, 4]
    assert "loss/total" in history[0] and "val/psnr" in history[0] and "loss/total" in history[1]


class NanPsnr(InpaintingTask):
    def metrics(self, model, batch):
        return {**super().metrics(model, batch), "psnr": float("nan")}


def test_a_non_finite_validation_score_is_never_best(tmp_path):
    torch.manual_seed(0)
    t = Trainer(TinyInpaint(), l1_terms, cfg(tmp_path, steps=2, val_every=1), task=NanPsnr())
    history = t.fit(Pairs(), Pairs(n=4))
    assert all(r["val/psnr"] != r["val/psnr"] for r in history)  # NaN, recorded as it is
    assert t.best["value"] is None and not (tmp_path / "run" / "best.pt").exists()


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    class TermAt2:
        def on_step_end(self, trainer, step, terms):
            if step == 2:
                os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    t = make_trainer(tmp_path, steps=6, callbacks=[TermAt2()])
    t.fit(Pairs())
    assert t.step == 2 and t.interrupted == signal.SIGTERM
    assert load_checkpoint(tmp_path / "run" / "ckpt_2.pt")["step"] == 2
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is fit's only
    t = make_trainer(tmp_path, steps=3)
    t.fit(Pairs(), resume=True)
    assert t.step == 3 and t.interrupted is None


def test_a_signal_during_a_save_waits_until_the_checkpoint_is_whole(tmp_path, monkeypatch):

    real_save = torch.save

    def save_and_get_killed(obj, f):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-write
        real_save(obj, f)

    t = make_trainer(tmp_path, steps=6, checkpoint_every=2)
    monkeypatch.setattr(ckpt_mod.torch, "save", save_and_get_killed)
    t.fit(Pairs())
    assert t.step == 2 and t.interrupted == signal.SIGTERM
    assert load_checkpoint(tmp_path / "run" / "ckpt_2.pt")["step"] == 2
    assert not list((tmp_path / "run").glob(".*tmp*"))


def test_a_failed_save_keeps_the_previous_checkpoints_and_says_what_failed(tmp_path, monkeypatch):
    real_save, calls = torch.save, []

    def full_disk(obj, f):
        calls.append(1)
        if len(calls) > 1:
            f.write(b"partial")
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, f)

    monkeypatch.setattr(ckpt_mod.torch, "save", full_disk)
    with pytest.raises(CheckpointWriteError) as e:
        make_trainer(tmp_path, steps=6, checkpoint_every=2, keep_last=1).fit(Pairs())
    text, out = str(e.value), tmp_path / "run"
    assert "ckpt_4.pt" in text and "No space left on device" in text and "ckpt_2.pt" in text and "intact" in text
    monkeypatch.undo()
    assert load_checkpoint(out / "ckpt_2.pt")["step"] == 2 and not (out / "ckpt_4.pt").exists()
    assert not list(out.glob(".*tmp*"))
    t = make_trainer(tmp_path, steps=6, checkpoint_every=2)
    t.fit(Pairs(), resume=True)  # space again: the run continues from ckpt_2
    assert t.step == 6


@pytest.mark.parametrize("what", ["history", "samples"])
def test_history_and_sample_write_errors_warn_and_training_goes_on(tmp_path, monkeypatch, caplog, what):
    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if what == "history":
        monkeypatch.setattr(runfolder, "write_history", fail)
    else:
        monkeypatch.setattr(matplotlib.figure.Figure, "savefig", fail)
    t = make_trainer(tmp_path, steps=2, val_every=2, sample_every=2)
    with caplog.at_level(logging.WARNING, logger="pconv.train.trainer"):
        t.fit(Pairs(), Pairs(n=4))
    assert t.step == 2 and load_checkpoint(tmp_path / "run" / "ckpt_2.pt")["history"] == t.history
    assert "No space left on device" in caplog.text and ("history" if what == "history" else "sample") in caplog.text


def test_resume_with_another_model_configuration_names_the_saved_one(tmp_path):
    def tiny(width):
        model = TinyInpaint()
        model.config = {"width": width}  # as PConvUNet records its constructor arguments
        model.enc, model.bn = nn.Conv2d(4, width, 3, padding=1), nn.BatchNorm2d(width)
        model.dec = nn.Conv2d(width, 3, 3, padding=1)
        return model

    Trainer(tiny(8), l1_terms, cfg(tmp_path, steps=2)).fit(Pairs())
    with pytest.raises(CheckpointError, match=r"ckpt_2\.pt.*width=8.*now 16.*--width 8"):
        Trainer(tiny(16), l1_terms, cfg(tmp_path, steps=3)).fit(Pairs(), resume=True)


def test_keep_last_keeps_what_this_run_wrote_despite_a_stale_higher_checkpoint(tmp_path):
    make_trainer(tmp_path, steps=4, checkpoint_every=2, keep_last=1).fit(Pairs())
    out = tmp_path / "run"
    (out / "ckpt_99.pt").write_bytes(b"a stale, corrupt file")
    t = make_trainer(tmp_path, steps=8, checkpoint_every=2, keep_last=1)
    t.fit(Pairs(), resume=True)
    assert t.step == 8
    assert sorted(p.name for p in out.glob("ckpt_*.pt")) == ["ckpt_8.pt", "ckpt_99.pt"]
    assert load_checkpoint(out / "ckpt_8.pt")["step"] == 8


FULL_DISK = {
    "torch-runtime-error": lambda: RuntimeError(
        "[enforce fail at inline_container.cc:626] . PytorchStreamWriter failed writing file data/0: file write failed"
    ),
    "enospc": lambda: OSError(28, "No space left on device"),
}


class SignalAt:
    def __init__(self, step, signum):
        self.step, self.signum = step, signum

    def on_step_end(self, trainer, step, terms):
        if step == self.step:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("failure", FULL_DISK.values(), ids=FULL_DISK.keys())
@pytest.mark.parametrize("when", ["periodic", "best", "ctrl-c", "sigterm"])
def test_a_full_disk_on_any_checkpoint_write_is_a_write_failure_and_keeps_the_earlier_ones(
    tmp_path, monkeypatch, failure, when
):
    real_save = torch.save
    failing = {"periodic": ".ckpt_4.pt", "best": ".best.pt", "ctrl-c": ".ckpt_3.pt", "sigterm": ".ckpt_3.pt"}[when]

    def full_disk(obj, f):
        if os.path.basename(f.name).startswith(failing + ".tmp"):
            f.write(b"partial")
            raise failure()
        real_save(obj, f)

    monkeypatch.setattr(ckpt_mod.torch, "save", full_disk)
    callbacks = {"ctrl-c": [InterruptAt(3)], "sigterm": [SignalAt(3, signal.SIGTERM)]}.get(when, [])
    t = make_trainer(tmp_path, callbacks=callbacks, steps=6, checkpoint_every=2, keep_last=1, val_every=2)
    with pytest.raises(CheckpointWriteError) as e:
        t.fit(Pairs(), Pairs(n=4) if when == "best" else None)
    assert failing[1:] in str(e.value)
    assert isinstance(e.value, WriteFailedError) and "intact" in str(e.value) and "--resume" in str(e.value)
    monkeypatch.undo()
    out = tmp_path / "run"
    assert not list(out.glob(".*tmp*")) and "ckpt_2.pt" in str(e.value)  # names the one still intact
    assert load_checkpoint(out / "ckpt_2.pt")["step"] == 2
    assert not (out / failing[1:]).exists()


@pytest.mark.parametrize(
    "spoil",
    [
        lambda ck: ck.update(rng={"torch": "x"}),
        lambda ck: ck.update(history={"step": 1}),
        lambda ck: ck.update(step="6"),
        lambda ck: ck.update(config=[1, 2]),
        lambda ck: ck.update(best=[0.5]),
        lambda ck: ck["optimizer"].update(state=[1]),
    ],
    ids=["rng", "history", "step", "config", "best", "optimizer"],
)
def test_resume_falls_back_past_a_newest_checkpoint_with_malformed_fields(tmp_path, caplog, spoil):
    make_trainer(tmp_path, steps=4, checkpoint_every=2, keep_last=3).fit(Pairs())
    out = tmp_path / "run"
    ck = load_checkpoint(out / "ckpt_4.pt")
    ck["step"] = 6
    spoil(ck)
    torch.save(ck, out / "ckpt_6.pt")
    t = make_trainer(tmp_path, steps=5, checkpoint_every=100)
    with caplog.at_level(logging.WARNING, logger="pconv.train.trainer"):
        t.fit(Pairs(), resume=True)
    assert t.step == 5 and "skipped ckpt_6.pt" in caplog.text
    assert [r["step"] for r in t.history] == [1, 2, 3, 4, 5]


def test_ctrl_c_during_validation_keeps_that_steps_row(tmp_path):
    class StopInValidation(InpaintingTask):
        def metrics(self, model, batch):
            raise KeyboardInterrupt

    torch.manual_seed(0)
    t = Trainer(TinyInpaint(), l1_terms, cfg(tmp_path, steps=6, log_every=3, val_every=2), task=StopInValidation())
    history = t.fit(Pairs(), Pairs(n=4))
    assert t.step == 2 and [r["step"] for r in history] == [2]
    assert "loss/total" in history[0] and not any(k.startswith("val/") for k in history[0])
    assert load_checkpoint(tmp_path / "run" / "ckpt_2.pt")["history"] == history
