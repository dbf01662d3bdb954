"""Tests for pconv.notebook.panel_plot: runs overlay one line each, and the callback feeds the panel."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from figure_checks import assert_readable, tick_labels

from pconv.notebook.panel_plot import PanelCallback, Run, plot_runs, runs_table


def _run(number, rows, start_step=0, label=None):
    return Run(number, label or f"run {number}", SimpleNamespace(history=rows), start_step)


def test_run_history_keeps_only_its_own_steps():
    rows = [{"step": s, "loss/total": 1.0 / s} for s in range(1, 6)]
    assert [r["step"] for r in _run(2, rows, start_step=3).history] == [4, 5]


def test_plot_runs_draws_one_line_per_run_on_every_axis():
    a = _run(1, [{"step": 1, "loss/total": 2.0, "lr": 1e-3}, {"step": 2, "loss/total": 1.0, "lr": 1e-3}])
    b = _run(2, [{"step": 1, "loss/total": 3.0, "lr": 5e-4, "val/psnr": 20.0}])
    c = _run(3, [])  # started, nothing logged yet: an empty line keeps colours and legend in step
    fig = plot_runs([a, b, c], title="legend title")
    assert [ax.get_title() for ax in fig.axes] == ["loss/total", "val/psnr", "lr"]
    for ax in fig.axes:
        assert [line.get_label() for line in ax.get_lines()] == ["run 1", "run 2", "run 3"]
        assert [line.get_color() for line in ax.get_lines()] == ["C0", "C1", "C2"]
    loss, psnr, lr = fig.axes
    assert list(loss.get_lines()[0].get_ydata()) == [2.0, 1.0] and list(psnr.get_lines()[0].get_ydata()) == []
    assert list(psnr.get_lines()[1].get_xdata()) == [1]
    assert (loss.get_yscale(), psnr.get_yscale(), lr.get_yscale()) == ("linear",) * 3  # under two decades
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["#1", "#2", "#3"]  # runs_table spells them out
    assert legend.get_title().get_text() == "legend title"
    assert_readable(fig)
    for ax in fig.axes:
        xs, ys = tick_labels(ax)
        assert len(xs) >= 2 and len(ys) >= 2 and all(float(t) % 1 == 0 for t in ax.get_xticks()), ax.get_title()


def test_plot_runs_goes_logarithmic_over_two_decades_with_two_labels_still():
    rows = [{"step": s, "loss/total": 10.0**-s, "lr": 1e-3 if s < 3 else 1e-6} for s in range(1, 5)]
    fig = plot_runs([_run(1, rows)])
    assert [ax.get_yscale() for ax in fig.axes] == ["log", "log"]
    for ax in fig.axes:
        assert len(tick_labels(ax)[1]) >= 2, ax.get_title()


def test_runs_table_lists_each_run_with_its_colour_newest_first():
    runs = [_run(1, [], label="#1: 3x8, 32px"), _run(2, [], label="#2 (continues #1): 3x8 <gated>, 32px")]
    table = runs_table(runs, header="layers x channels, size")
    assert table.index("#2 (continues #1)") < table.index("#1<")  # newest first
    assert "#1f77b4" in table and "#ff7f0e" in table  # C0 and C1: the colours of their lines
    assert "3x8 &lt;gated&gt;, 32px" in table and "layers x channels, size" in table  # escaped
    assert runs_table([]) == ""


def test_plot_runs_refuses_nothing_to_draw():
    with pytest.raises(ValueError, match="no runs"):
        plot_runs([])
    with pytest.raises(ValueError, match=r"no run has values for \['val/dice'\]"):
        plot_runs([_run(1, [{"step": 1, "loss/total": 1.0}])], keys=["val/dice"])


class _Panel:
    def __init__(self):
        self.stop_requested, self.said, self.runs, self.figure = False, [], [], None
        self.plot, self.samples, self.legend_title = SimpleNamespace(outputs=()), SimpleNamespace(outputs=()), "t"
        self.table = SimpleNamespace(value="")

    def say(self, text):
        self.said.append(text)


class _Trainer:
    def __init__(self, out):
        self.history, self.config, self.best, self.out = [], SimpleNamespace(steps=10), {"metric": "val/psnr"}, out
        self.stopped = False

    def stop(self):
        self.stopped = True


def test_callback_draws_the_runs_says_the_step_and_passes_stop_on(tmp_path):
    panel, trainer = _Panel(), _Trainer(tmp_path)
    panel.runs.append(Run(1, "run 1", trainer))
    cb = PanelCallback(panel, min_interval=3600)
    cb.on_fit_start(trainer)
    cb.on_step_end(trainer, 1, {"total": 0.5})
    assert len(panel.said) == 1 and panel.said[0].startswith("step 1/10, loss 0.5 (") and not trainer.stopped
    trainer.history.append({"step": 1, "loss/total": 0.5})
    cb.on_log(trainer, trainer.history[-1])
    assert panel.plot.outputs == () and panel.figure is None  # redraws are rate-limited
    cb.on_fit_end(trainer, trainer.history)
    assert panel.plot.outputs[0]["data"]["image/png"] and len(panel.figure.axes[0].get_lines()) == 1
    assert "run 1" in panel.table.value
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "step_0000001.png").write_bytes(b"\x89PNG saved")
    cb.on_samples(trainer, 1, figure=None)  # the trainer's saved file is shown as is
    assert panel.samples.outputs[0]["data"]["text/plain"] == "<samples at step 1>"
    panel.stop_requested = True
    cb.on_step_end(trainer, 2, None)
    assert trainer.stopped
