"""Tests for pconv.train, pconv.checkpoint and pconv.tasks with tiny stand-in models (CPU, seconds)."""

from __future__ import annotations

import json
import logging
import os

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from pconv import checkpoint as ckpt_mod
from pconv.checkpoint import CheckpointError, list_checkpoints, load_checkpoint, save_checkpoint
from pconv.tasks import InpaintingTask, SegmentationTask
from pconv.train import RunExistsError, TrainConfig, Trainer, TrainingDivergedError


class TinyInpaint(nn.Module):
    """An inpainting stand-in: conv-BN-dropout-conv, with `inpaint` and `freeze_encoder_bn`."""

    def __init__(self):
        super().__init__()
        self.config = {}
        self.enc = nn.Conv2d(4, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.2)  # consumes the torch RNG: resume must restore it
        self.dec = nn.Conv2d(8, 3, 3, padding=1)
        self.frozen = False

    def forward(self, image, mask):
        h = self.drop(torch.relu(self.bn(self.enc(torch.cat([image, mask], 1)))))
        return torch.sigmoid(self.dec(h)), mask

    @torch.no_grad()
    def inpaint(self, image, mask):
        return mask * image + (1 - mask) * self(image * mask, mask)[0]

    def freeze_encoder_bn(self, frozen: bool = True):
        self.frozen = frozen
        self.bn.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.bn.eval()
        return self


class Pairs(Dataset):
    """Fixed images; masks drawn from the global torch RNG (so data RNG must resume exactly too)."""

    def __init__(self, n=12, size=16):
        g = torch.Generator().manual_seed(1)
        self.images = torch.rand(n, 3, size, size, generator=g)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "mask": (torch.rand(1, *self.images.shape[2:]) > 0.3).float()}


def l1_terms(output, image, mask):
    hole = ((1 - mask) * (output - image)).abs().mean()
    valid = (mask * (output - image)).abs().mean()
    return {"valid": valid, "hole": hole, "total": valid + 6 * hole}


def cfg(tmp_path, **kw):
    base = dict(
        steps=4,
        batch_size=4,
        lr=1e-2,
        device="cpu",
        num_workers=0,
        log_every=1,
        val_every=100,
        sample_every=100,
        checkpoint_every=100,
        out=str(tmp_path / "run"),
        progress=False,
        val_batches=1,
    )
    return TrainConfig(**{**base, **kw})


def make_trainer(tmp_path, loss=l1_terms, callbacks=(), **kw):
    torch.manual_seed(0)
    return Trainer(TinyInpaint(), loss, cfg(tmp_path, **kw), callbacks=callbacks)


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
    with caplog.at_level(logging.INFO, logger="pconv.train"):
        t.fit(Pairs(), resume=True)
    assert "ckpt_4.pt" in caplog.text and "resumed from" in caplog.text and "ckpt_2.pt" in caplog.text
    assert t.step == 6 and [r["step"] for r in t.history] == [1, 2, 3, 4, 5, 6]


def test_nan_steps_are_skipped_then_divergence_stops(tmp_path):
    calls = []

    def flaky(output, image, mask):
        calls.append(1)
        terms = l1_terms(output, image, mask)
        if len(calls) in (2, 3):
            terms["total"] = terms["total"] * float("nan")
        return terms

    t = make_trainer(tmp_path, loss=flaky, steps=5, max_bad_steps=3)
    history = t.fit(Pairs())
    assert t.step == 5 and t.skipped_steps == 2
    assert [r["skipped"] for r in history] == [0, 1, 1, 0, 0]
    assert "loss/total" not in history[1]

    def broken(output, image, mask):
        calls.append(1)
        return {"total": output.sum() * (float("inf") if len(calls) > 7 else 1.0)}

    calls.clear()
    t = make_trainer(tmp_path / "div", loss=broken, steps=20, max_bad_steps=3)
    with pytest.raises(TrainingDivergedError, match=r"3 non-finite losses in a row.*ckpt_10\.pt"):
        t.fit(Pairs())
    ck = load_checkpoint(tmp_path / "div" / "run" / "ckpt_10.pt")
    for k, v in t.model.state_dict().items():  # weights = the last good state (after step 7)
        assert torch.equal(v, ck["model"][k]), k
    assert ck["skipped_steps"] == 3


def test_atomic_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt_1.pt"
    save_checkpoint({"step": 1, "model": {"w": torch.ones(3)}}, path)

    def dying_save(obj, f):
        f.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt_mod.torch, "save", dying_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"step": 2, "model": {"w": torch.zeros(3)}}, path)
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt_1.pt"]  # no temporary file left


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


def test_lr_schedule():
    c = TrainConfig(steps=10, lr=1.0, warmup_steps=2, schedule="cosine", finetune_steps=2, finetune_lr=0.01)
    lrs = [c.lr_at(s) for s in range(10)]
    assert lrs[:2] == [0.5, 1.0] and lrs[-2:] == [0.01, 0.01]
    assert all(a >= b for a, b in zip(lrs[1:8], lrs[2:8])) and lrs[7] > 0.1
    with pytest.raises(ValueError, match="finetune_steps"):
        TrainConfig(steps=3, finetune_steps=4)


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


def test_compile_failure_falls_back_to_eager(tmp_path, monkeypatch, caplog):
    def bad_compile(net):
        def fail(*a, **k):
            raise RuntimeError("no compiler here")

        return fail

    monkeypatch.setattr(torch, "compile", bad_compile)
    t = make_trainer(tmp_path, steps=2, compile=True)
    with caplog.at_level(logging.WARNING, logger="pconv.train"):
        t.fit(Pairs())
    assert t.step == 2 and "torch.compile failed" in caplog.text


def test_config_to_dict_is_plain(tmp_path):
    d = cfg(tmp_path).to_dict()
    assert all(v is None or isinstance(v, (int, float, str, bool)) for v in d.values())
    assert os.fspath(d["out"]).endswith("run")


def test_validation_rows_keep_the_loss_window(tmp_path):
    history = make_trainer(tmp_path, steps=4, log_every=4, val_every=3).fit(Pairs(), Pairs(n=4))
    assert [r["step"] for r in history] == [3, 4]
    assert "loss/total" in history[0] and "val/psnr" in history[0] and "loss/total" in history[1]


def test_live_plot_draws_the_history_and_shows_each_sample_figure(tmp_path, monkeypatch):
    import IPython.display
    from matplotlib.figure import Figure

    from pconv.callbacks import LivePlot

    calls = []  # (handle number, "display" | "update", what was shown)

    class Handle:  # stands in for the notebook's output area
        def __init__(self):
            handles.append(self)

        def display(self, obj):
            calls.append((handles.index(self), "display", obj))

        def update(self, obj):
            calls.append((handles.index(self), "update", obj))

    handles = []
    monkeypatch.setattr(IPython.display, "DisplayHandle", Handle)
    saved = []

    class Samples:
        def on_samples(self, trainer, step, figure):
            saved.append(figure)

    t = make_trainer(tmp_path, steps=2, val_every=2, sample_every=2, callbacks=[LivePlot(min_interval=0), Samples()])
    history = t.fit(Pairs(), Pairs(n=4))
    plot, grid = 0, 1  # LivePlot makes the loss-plot handle first, then the sample-grid handle
    # the loss plot: shown at the first row, then updated at the second row and at the end of fit
    assert [how for n, how, _ in calls if n == plot] == ["display", "update", "update"]
    # the sample grid: the trainer's own figure of step 2, shown once
    assert [(how, obj) for n, how, obj in calls if n == grid] == [("display", saved[0])]
    final = [obj for n, _, obj in calls if n == plot][-1]
    assert isinstance(final, Figure)
    lines = {line.get_label(): line for ax in final.axes for line in ax.get_lines()}
    assert list(lines["loss/total"].get_ydata()) == pytest.approx([r["loss/total"] for r in history])
    assert list(lines["loss/total"].get_xdata()) == [1, 2]
    assert any("val/psnr" in (ax.get_title() + ax.get_ylabel()) for ax in final.axes)


def test_config_size_accepts_a_pair_as_a_plain_list():
    from pconv.config import TrainConfig

    assert TrainConfig(size=(160, 240)).size == [160, 240]
    assert TrainConfig.from_dict(TrainConfig(size=(160, 240)).to_dict()).size == [160, 240]
    with pytest.raises(ValueError, match="size must be"):
        TrainConfig(size=(1, 2, 3))
