"""pconv.train.divergence, in a run: non-finite steps are skipped, too many in a row or non-finite weights
stop the run, such weights are never saved, and the error names the last good checkpoint."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from tiny_run import Pairs, l1_terms, make_trainer

from pconv.train import TrainingDivergedError, list_checkpoints, load_checkpoint
from pconv.train.divergence import non_finite_losses, non_finite_weights


def test_the_messages_name_the_step_the_last_good_checkpoint_and_the_flags_that_help():
    e = non_finite_losses(12, 3, 3, Path("runs/a/ckpt_10.pt"))
    assert isinstance(e, TrainingDivergedError) and isinstance(e, RuntimeError)
    text = str(e)
    assert "step 12" in text and "3 non-finite losses in a row" in text and "ckpt_10.pt" in text
    assert all(flag in text for flag in ("--max-bad-steps", "--lr", "--grad-clip", "--no-amp", "--resume"))
    text = str(non_finite_weights(5, Path("runs/a/ckpt_4.pt"), 2e-4))
    assert "step 5" in text and "not saved" in text and "ckpt_4.pt" in text and "it was 0.0002" in text
    assert "--resume" in text and "--no-amp" in text
    text = str(non_finite_weights(1, None, 1e-3))
    assert "no checkpoint yet" in text and "--resume" not in text


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


class PoisonAt:
    """Make one weight (or a BN statistic) NaN after step `step`, as an overflowing update would."""

    def __init__(self, step, what="dec.weight"):
        self.step, self.what = step, what

    def on_step_end(self, trainer, step, terms):
        if step == self.step:
            with torch.no_grad():
                trainer.model.state_dict()[self.what].view(-1)[0] = float("nan")


def assert_all_finite(path):
    for k, v in load_checkpoint(path)["model"].items():
        assert torch.isfinite(v.float()).all(), (path.name, k)


def test_non_finite_weights_are_never_saved_and_the_error_names_the_last_good_checkpoint(tmp_path):
    t = make_trainer(tmp_path, steps=8, checkpoint_every=2, val_every=2, max_bad_steps=10, callbacks=[PoisonAt(3)])
    with pytest.raises(TrainingDivergedError, match=r"weights .*not finite.*ckpt_2\.pt") as e:
        t.fit(Pairs(), Pairs(n=4))
    assert "step 4" in str(e.value)  # found at the first skipped step, not max_bad_steps later
    out = tmp_path / "run"
    assert [s for s, _ in list_checkpoints(out)] == [2]
    for path in out.glob("*.pt"):  # best.pt too
        assert_all_finite(path)
    assert load_checkpoint(out / "best.pt")["step"] <= 3


def test_a_run_ending_with_non_finite_weights_fails_instead_of_saving_them(tmp_path):
    poison = PoisonAt(3, "bn.running_mean")  # in training mode BN normalises by the batch: the loss stays finite
    t = make_trainer(tmp_path, steps=4, checkpoint_every=2, max_bad_steps=10, callbacks=[poison])
    with pytest.raises(TrainingDivergedError, match=r"ckpt_2\.pt"):
        t.fit(Pairs())
    assert [s for s, _ in list_checkpoints(tmp_path / "run")] == [2]


def test_with_no_good_checkpoint_yet_the_error_says_so(tmp_path):
    t = make_trainer(tmp_path, steps=4, max_bad_steps=10, callbacks=[PoisonAt(1)])
    with pytest.raises(TrainingDivergedError, match="no checkpoint"):
        t.fit(Pairs())
    assert not list((tmp_path / "run").glob("*.pt"))


def nan_copy(src, dst, step):
    ck = load_checkpoint(src)
    ck["step"] = step
    next(iter(ck["model"].values())).view(-1)[0] = float("nan")
    torch.save(ck, dst)


def test_resume_skips_a_nan_checkpoint_and_divergence_names_one_that_passes(tmp_path, caplog):
    make_trainer(tmp_path, steps=4, checkpoint_every=2, keep_last=3).fit(Pairs())
    out = tmp_path / "run"
    nan_copy(out / "ckpt_4.pt", out / "ckpt_5.pt", 5)  # newer by recorded step, NaN weights
    t = make_trainer(tmp_path, steps=10, checkpoint_every=100, max_bad_steps=10, callbacks=[PoisonAt(6)])
    with caplog.at_level(logging.INFO, logger="pconv.train.trainer"):
        with pytest.raises(TrainingDivergedError) as e:
            t.fit(Pairs(), resume=True)
    assert "skipped ckpt_5.pt" in caplog.text and "not finite" in caplog.text and "resumed from" in caplog.text
    assert "ckpt_4.pt" in str(e.value) and "ckpt_5.pt" not in str(e.value)
