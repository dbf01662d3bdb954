"""pconv.train.callbacks: the hook protocol, the live notebook plot and the time budget, on a tiny run."""

from __future__ import annotations

import IPython.display
import pytest
from matplotlib.figure import Figure
from tiny_run import Pairs, make_trainer

from pconv.train import LivePlot, StopAfter, load_checkpoint
from pconv.train.callbacks import Callback


def test_live_plot_draws_the_history_and_shows_each_sample_figure(tmp_path, monkeypatch):
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


def test_every_hook_of_the_base_callback_is_called_and_does_nothing(tmp_path):
    called = []

    class Record(Callback):
        def __getattribute__(self, name):
            if name.startswith("on_"):
                called.append(name)
            return super().__getattribute__(name)

    t = make_trainer(tmp_path, steps=2, val_every=2, sample_every=2, callbacks=[Record()])
    t.fit(Pairs(), Pairs(n=4))
    assert t.step == 2
    assert set(called) == {"on_fit_start", "on_step_end", "on_log", "on_samples", "on_checkpoint", "on_fit_end"}
    assert called[0] == "on_fit_start" and called[-1] == "on_fit_end"


def test_stop_after_a_time_budget_ends_the_run_with_a_checkpoint(tmp_path):
    t = make_trainer(tmp_path, steps=50, callbacks=[StopAfter(0.0)])  # the budget is spent after the first step
    t.fit(Pairs())
    assert t.step == 1 and t.interrupted is None
    assert load_checkpoint(tmp_path / "run" / "ckpt_1.pt")["step"] == 1
