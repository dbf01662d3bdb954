"""pconv.train.estimate: the trainer's start line and its time estimate, on a fake clock (not timing-sensitive)."""

from __future__ import annotations

import logging
import re
import time
from types import SimpleNamespace

import pytest
import torch
from tiny_run import Pairs, make_trainer

import pconv.train.estimate
from pconv.nn import InpaintingLoss, PConvUNet
from pconv.train import TrainConfig, Trainer
from pconv.train.estimate import StepTimer, describe_run, image_size

STEP_S, VALIDATION_S = 0.5, 3.0  # what a step and a validation "take" on the fake clock


class FakeClock:
    """`pconv.train.estimate.clock` that moves only when told: a step takes STEP_S, a validation VALIDATION_S."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def on_step_end(self, trainer, step, terms):  # a callback: the step's time passes
        self.now += STEP_S


@pytest.fixture
def fake_clock(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(pconv.train.estimate, "clock", clock)
    return clock


def slow_validation(trainer, clock):
    """Make each validation of `trainer` take VALIDATION_S on the fake clock (and count them)."""
    validate, calls = trainer.validate, []

    def timed(loader):
        clock.now += VALIDATION_S
        calls.append(trainer.step)
        return validate(loader)

    trainer.validate = timed
    return calls


def printed_lines(capsys):
    return [line for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_start_line_names_the_model_the_steps_and_the_device_and_the_estimate_follows(tmp_path, fake_clock, capsys):
    t = make_trainer(
        tmp_path,
        steps=20,
        log_every=100,
        val_every=5,
        sample_every=10,
        checkpoint_every=100,
        progress=True,
        callbacks=[fake_clock],
    )
    validations = slow_validation(t, fake_clock)
    t.fit(Pairs(), Pairs(n=4))
    start, estimate = printed_lines(capsys)
    threads = torch.get_num_threads()
    threads = f"{threads} thread{'s' if threads > 1 else ''}"
    params = sum(p.numel() for p in t.model.parameters())
    expected_start = f"Training TinyInpaint({params} parameters) on cpu ({threads}): 20 steps of batch 4"
    assert start == expected_start + " at 16x16, AMP off"
    # step 1 is not timed; steps 2-6 are: 0.5 s each, the validation at step 5 (3 s) timed apart.
    # Still due after step 6: 14 steps, validations at 10, 15, 20 (3 s each, as the one timed),
    # sample grids at 10 and 20 (none timed yet: guessed 1 s + 0.4 of a step each), and
    # checkpoints on a new best at 10, 15, 20 (the one at step 5 took no time on this clock).
    guess_samples = pconv.train.estimate.GUESS["samples_s"] + pconv.train.estimate.GUESS["validation_batch"] * STEP_S
    expected = 14 * STEP_S + 3 * VALIDATION_S + 2 * guess_samples + 3 * 0.0
    e = t.estimate
    assert validations == [5, 10, 15, 20]
    assert e.seconds_per_step == pytest.approx(STEP_S) and e.measured == (2, 6) and e.remaining_steps == 14
    assert e.events == {"validation": 3, "sample grid": 2, "checkpoint": 3}
    assert e.seconds == pytest.approx(expected)
    assert e.finish == pytest.approx(1000.0 + 6 * STEP_S + VALIDATION_S + expected)
    assert re.fullmatch(
        rf"~0\.5 s/step measured on steps 2-6: about {expected:.0f} s for the remaining 14 steps, "
        r"with 3 validations and 2 sample grids \(finishing around \d\d:\d\d\)",
        estimate,
    )


def test_an_hour_long_run_is_told_in_minutes_and_counts_down(tmp_path, fake_clock, capsys):
    class StopAfterEstimate:
        def on_step_end(self, trainer, step, terms):
            if trainer.estimate is not None:
                trainer.stop()

    big = dict(log_every=10_000, sample_every=10_000, checkpoint_every=10_000)
    t = make_trainer(tmp_path, steps=7206, progress=True, callbacks=[fake_clock, StopAfterEstimate()], **big)
    t.fit(Pairs())
    assert t.step == 7  # stopped right after the estimate
    # 7200 steps of 0.5 s, the last sample grid (guessed 1.2 s) and the final checkpoint (guessed 0.2 s)
    assert t.estimate.seconds == pytest.approx(3600 + 1.2 + 0.2)
    assert printed_lines(capsys)[1].startswith(
        "~0.5 s/step measured on steps 2-6: about 60 min for the remaining 7200 steps, with 1 sample grid (finishing"
    )
    assert t.estimate.left() == "about 60 min left"
    fake_clock.now = t.estimate.finish - 30
    assert t.estimate.left() == "about 30 s left"
    fake_clock.now = t.estimate.finish + 5
    assert t.estimate.left() == "about 0 s left"


def test_resumed_runs_count_from_the_step_they_resume_at(tmp_path, fake_clock, capsys):
    make_trainer(tmp_path, steps=4).fit(Pairs())
    capsys.readouterr()
    t = make_trainer(tmp_path, steps=20, progress=True, finetune_steps=5, checkpoint_every=100, callbacks=[fake_clock])
    t.fit(Pairs(), resume=True)
    start, estimate = printed_lines(capsys)
    assert start.endswith(": 16 steps (5-20, resumed at step 4) of batch 4 at 16x16, AMP off; fine-tuning from step 16")
    # 10 steps, the last sample grid (of the training data: there is no validation data) and the last checkpoint
    assert estimate.startswith(
        "~0.5 s/step measured on steps 6-10: about 6 s for the remaining 10 steps, with 1 sample"
    )
    assert t.estimate.remaining_steps == 10 and t.estimate.seconds == pytest.approx(10 * STEP_S + 1.2 + 0.2)


class Stop:
    """A callback that stops the run after step `at`."""

    def __init__(self, at):
        self.at = at

    def on_step_end(self, trainer, step, terms):
        if step >= self.at:
            trainer.stop()


BIG = dict(log_every=10_000, sample_every=10_000, checkpoint_every=10_000)


def test_a_second_look_says_a_new_estimate_when_the_steps_speed_up(tmp_path, fake_clock, monkeypatch, capsys):
    # steps 2-6 take 0.5 s (another job held a core), then 0.1 s: the first estimate is 5x too long
    monkeypatch.setattr(FakeClock, "on_step_end", lambda self, trainer, step, terms: setattr(
        self, "now", self.now + (STEP_S if step <= 6 else 0.1)))  # fmt: skip
    t = make_trainer(tmp_path, steps=2000, progress=True, callbacks=[fake_clock, Stop(300)], **BIG)
    t.fit(Pairs())
    lines = printed_lines(capsys)
    assert len(lines) == 3 and lines[1].startswith("~0.5 s/step measured on steps 2-6: about 17 min for the remaining")
    # the second look: 10 % of the 1994 steps left (199 steps, 19.9 s on this clock: under REVIEW_S)
    e = t.estimate
    assert e.measured == (7, 205) and e.seconds_per_step == pytest.approx(0.1) and e.remaining_steps == 1795
    assert e.seconds == pytest.approx(1795 * 0.1 + 1.04 + 0.2)  # the last sample grid (guessed) and checkpoint
    # on the wall: the first said 998.4 s from its step, this 180.7 s from its own (real seconds apart, a few)
    assert 750 < e.revised_from - e.finish_wall <= 998.4 - 180.7
    assert re.fullmatch(
        r"~0\.1 s/step measured on steps 7-205: about 3 min for the remaining 1795 steps, with 1 sample grid "
        r"\(finishing around \d\d:\d\d, not \d\d:\d\d as first estimated\)",
        lines[2],
    )


def test_the_second_look_is_quiet_when_the_first_estimate_holds_and_comes_after_review_s(tmp_path, fake_clock, capsys):
    # 0.5 s steps throughout; 4994 steps left: 10 % of them would be 499 steps, but REVIEW_S (120 s) comes first
    t = make_trainer(tmp_path, steps=5000, progress=True, callbacks=[fake_clock, Stop(300)], **BIG)
    t.fit(Pairs())
    assert len(printed_lines(capsys)) == 2  # the start line and the first estimate only
    review = 6 + int(pconv.train.estimate.REVIEW_S / STEP_S)
    assert t.estimate.measured == (7, review) and t.estimate.revised_from is None
    assert t.estimate.seconds_per_step == pytest.approx(STEP_S)


def test_no_second_look_before_review_min_steps(tmp_path, fake_clock, capsys):
    t = make_trainer(tmp_path, steps=40, progress=True, callbacks=[fake_clock], **BIG)
    t.fit(Pairs())
    # 34 steps left after the first estimate: the look comes at REVIEW_MIN steps after it, not at 10 %
    assert t.estimate.measured == (7, 6 + pconv.train.estimate.REVIEW_MIN)


@pytest.mark.parametrize("steps, estimated", [(6, False), (7, True)])
def test_no_estimate_when_nothing_is_left_after_the_measured_steps(tmp_path, fake_clock, capsys, steps, estimated):
    t = make_trainer(tmp_path, steps=steps, progress=True, callbacks=[fake_clock])
    t.fit(Pairs())
    lines = printed_lines(capsys)
    assert lines[0].startswith("Training TinyInpaint(") and f": {steps} steps of batch 4" in lines[0]
    assert len(lines) == 1 + estimated and (t.estimate is not None) == estimated
    if estimated:
        assert "for the remaining 1 step, " in lines[1]


def test_a_run_already_at_its_total_says_there_is_nothing_to_train(tmp_path, capsys):
    make_trainer(tmp_path, steps=3).fit(Pairs())
    t = make_trainer(tmp_path, steps=3, progress=True)
    t.fit(Pairs(), resume=True)
    (line,) = printed_lines(capsys)
    assert "nothing to train (at step 3 of 3) of batch 4" in line and t.estimate is None


def test_with_logging_on_the_lines_go_to_the_log_not_to_stdout(tmp_path, fake_clock, caplog, capsys):
    t = make_trainer(
        tmp_path, steps=8, progress=True, callbacks=[fake_clock]
    )  # the CLI: logging configured (and no bar)
    with caplog.at_level(logging.INFO, logger="pconv.train.trainer"):
        t.fit(Pairs())
    assert printed_lines(capsys) == []
    assert "Training TinyInpaint(" in caplog.text and "s/step measured on steps 2-6" in caplog.text


def test_without_a_progress_bar_and_logging_nothing_is_printed_but_the_estimate_is_kept(tmp_path, fake_clock, capsys):
    t = make_trainer(
        tmp_path, steps=8, progress=False, callbacks=[fake_clock]
    )  # the training panel: it shows `estimate` itself
    t.fit(Pairs())
    assert printed_lines(capsys) == [] and t.estimate.remaining_steps == 2


def test_describe_run_names_the_constructor_arguments_that_differ_from_the_defaults(tmp_path):
    model = PConvUNet(layers=4, base_channels=8)
    config = TrainConfig(steps=30, batch_size=2, size=64, device="cpu", out=str(tmp_path / "run"), compile=True)
    t = Trainer(model, InpaintingLoss(vgg=None), config)
    n = sum(p.numel() for p in model.parameters())
    assert 1e3 < n < 1e6  # shown in thousands
    line = describe_run(t)
    assert line.startswith(f"Training PConvUNet(layers=4, base_channels=8; {n / 1e3:.0f}k parameters) on cpu (")
    assert line.endswith(": 30 steps of batch 2 at 64x64, AMP off, compiled")
    assert describe_run(t, (48, 80)).endswith("at 48x80, AMP off, compiled")  # the images' size, when known


def test_torch_compile_leaves_two_steps_untimed():
    config = TrainConfig(steps=100, compile=True)
    timer = StepTimer(SimpleNamespace(config=config, step=10, rank=0), None, None, progress=False)
    assert (timer.first, timer.last) == (13, 17)
    config.compile = False
    timer = StepTimer(SimpleNamespace(config=config, step=10, rank=0), None, None, progress=False)
    assert (timer.first, timer.last) == (12, 16)


def test_image_size_of_a_batch():
    image = torch.zeros(2, 3, 24, 40)
    assert image_size({"image": image}) == (24, 40) == image_size((image, image[:, :1]))
    assert image_size(None) is None and image_size({"mask": image}) is None


def test_the_training_panel_status_line_counts_down_the_estimate(fake_clock):
    from pconv.notebook.panel_plot import PanelCallback

    said = []
    panel = SimpleNamespace(stop_requested=False, say=said.append)
    trainer = SimpleNamespace(config=TrainConfig(steps=300), estimate=None)
    callback = PanelCallback(panel)
    callback.on_fit_start(trainer)
    callback.on_step_end(trainer, 5, {"total": 0.25})
    trainer.estimate = pconv.train.estimate.Estimate(0.5, (2, 6), 294, {}, 147.0, fake_clock.now + 147.0, 0.0)
    fake_clock.now += 27.0
    time.sleep(0.6)  # the panel updates its status at most every 0.5 s (of real time)
    callback.on_step_end(trainer, 6, {"total": 0.25})
    assert said[0].startswith("step 5/300, loss 0.25 (") and "left" not in said[0]
    assert said[1].startswith("step 6/300, loss 0.25 (") and said[1].endswith(" s, about 2 min left)")
