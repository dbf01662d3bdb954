"""Tests for pconv.notebook.panel_plot: runs overlay one line each, and the callback feeds the panel."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from pconv.notebook.panel_plot import PanelCallback, Run, plot_runs


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
    assert (loss.get_yscale(), psnr.get_yscale(), lr.get_yscale()) == ("log", "linear", "log")
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["run 1", "run 2", "run 3"]
    assert legend.get_title().get_text() == "legend title"


def test_plot_runs_refuses_nothing_to_draw():
    with pytest.raises(ValueError, match="no runs"):
        plot_runs([])
    with pytest.raises(ValueError, match=r"no run has values for \['val/dice'\]"):
        plot_runs([_run(1, [{"step": 1, "loss/total": 1.0}])], keys=["val/dice"])


class _Panel:
    def __init__(self):
        self.stop_requested, self.said, self.runs, self.figure = False, [], [], None
        self.plot, self.samples, self.legend_title = SimpleNamespace(outputs=()), SimpleNamespace(outputs=()), "t"

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
    (tmp_path / "samples").mkdir()
    (tmp_path / "samples" / "step_0000001.png").write_bytes(b"\x89PNG saved")
    cb.on_samples(trainer, 1, figure=None)  # the trainer's saved file is shown as is
    assert panel.samples.outputs[0]["data"]["text/plain"] == "<samples at step 1>"
    panel.stop_requested = True
    cb.on_step_end(trainer, 2, None)
    assert trainer.stopped
