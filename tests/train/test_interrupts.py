"""pconv.train.interrupts: SIGINT, SIGTERM and SIGHUP stop a run with a checkpoint; repeats do not break the save."""

from __future__ import annotations

import logging
import os
import signal

import pytest
from tiny_run import Pairs, make_trainer

from pconv.train import load_checkpoint
from pconv.train.interrupts import Interrupted, defer_interrupt, exit_status, sigterm_interrupts

pytestmark = pytest.mark.usefixtures("default_stop_signals")  # live even when the runner ignores them


class SignalAt:
    def __init__(self, step, *signums):
        self.step, self.signums = step, signums

    def on_step_end(self, trainer, step, terms):
        if step == self.step:
            for s in self.signums:
                os.kill(os.getpid(), s)


class AgainOnSave:
    """Sends signals again while the checkpoint of a stopping run is being written and recorded."""

    def __init__(self, *signums):
        self.signums = signums

    def on_checkpoint(self, trainer, path):
        for s in self.signums:
            os.kill(os.getpid(), s)


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_each_stop_signal_saves_a_checkpoint_and_maps_to_its_exit_status(tmp_path, signum):
    before = {s: signal.getsignal(s) for s in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)}
    t = make_trainer(tmp_path, steps=6, callbacks=[SignalAt(2, signum)])
    t.fit(Pairs())
    assert t.step == 2 and t.interrupted == signum
    assert load_checkpoint(tmp_path / "run" / "ckpt_2.pt")["step"] == 2
    assert {s: signal.getsignal(s) for s in before} == before  # the handlers are fit's only
    assert exit_status(signum) == 128 + signum
    assert exit_status(signal.SIGHUP) == 129


def test_a_second_signal_soon_after_the_first_is_ignored_until_the_checkpoint_is_saved(tmp_path, caplog):
    again = AgainOnSave(signal.SIGINT, signal.SIGHUP)
    t = make_trainer(tmp_path, steps=6, callbacks=[SignalAt(2, signal.SIGINT), again])
    with caplog.at_level(logging.WARNING, logger="pconv.train.trainer"):
        t.fit(Pairs())  # no KeyboardInterrupt escapes: the repeats are noted, not raised
    assert t.step == 2 and t.interrupted == signal.SIGINT
    assert load_checkpoint(tmp_path / "run" / "ckpt_2.pt")["step"] == 2
    assert "already stopping" in caplog.text
    assert not list((tmp_path / "run").glob(".*tmp*"))


def test_a_repeat_held_by_a_save_in_progress_is_dropped_once_stopping(tmp_path):
    with sigterm_interrupts():
        with pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGTERM)
        with defer_interrupt():  # the final save of the stopping run
            os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGHUP)  # and after it: still ignored
    with sigterm_interrupts(), pytest.raises(Interrupted):  # a new block starts afresh
        os.kill(os.getpid(), signal.SIGHUP)


def test_defer_interrupt_outside_a_block_raises_after_the_section_every_time():
    for _ in range(2):
        with pytest.raises(KeyboardInterrupt):
            with defer_interrupt():
                os.kill(os.getpid(), signal.SIGINT)


def test_an_ignored_sighup_stays_ignored(tmp_path):
    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        t = make_trainer(tmp_path, steps=3, callbacks=[SignalAt(1, signal.SIGHUP)])
        t.fit(Pairs())
        assert t.step == 3 and t.interrupted is None
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, old)
