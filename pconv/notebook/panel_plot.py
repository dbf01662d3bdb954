"""The training panel's live view: its runs, a figure that overlays them, and the Trainer callback.

Each Train of `pconv.notebook.panel.TrainingPanel` is a `Run`; `plot_runs` draws the runs' curves
on shared axes (training loss, a validation metric, the learning rate), one line per run
per axis, so successive experiments can be compared. The legend names each run by its
number only; `runs_table` lists what the numbers stand for, one readable HTML row per run with
its colour and settings (inside the figure, whole settings lines were about 6 px high).
`PanelCallback` feeds the panel from the training thread: the status line, the overlay
figure and the table (at most every `min_interval` seconds, and at the end) and the
trainer's latest sample grid (the paper's masked input / output / composite rows).
"""

from __future__ import annotations

import html
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from pconv.evaluation.figure_layout import TEXT_PT, integer_steps, use_log_scale
from pconv.notebook.controls import RENDER_LOCK, png_file_output, png_output

__all__ = ["PanelCallback", "Run", "plot_runs", "runs_table"]

DEFAULT_KEYS = ("loss/total", "val/psnr", "lr")


@dataclass
class Run:
    """One Train of the panel.

    Attributes:
        number: 1 for the panel's first run, then 2, 3, ...
        label: the run's settings, as shown in the legend.
        trainer: the run's `Trainer` (its `history` grows while the run goes on).
        start_step: the step the run started at (> 0 when it continued an earlier run).
    """

    number: int
    label: str
    trainer: Any
    start_step: int = 0

    @property
    def history(self) -> list[dict[str, Any]]:
        """This run's own history rows (a continued run's trainer also holds the earlier ones)."""
        return [row for row in self.trainer.history if row.get("step", 0) > self.start_step]

    @property
    def color(self) -> str:
        """The run's colour in every figure: matplotlib's `C{number - 1}`."""
        return f"C{(self.number - 1) % 10}"


def plot_runs(runs: Sequence[Run], keys: Sequence[str] = DEFAULT_KEYS, title: str | None = None) -> Any:
    """Overlay the curves of several runs: one axis per key, one line per run on every axis.

    Args:
        runs: the runs, oldest first; run i is drawn in matplotlib's colour `C{number - 1}`.
        keys: history keys, one axis each, e.g. "loss/total", "val/psnr", "lr"; a key no run
            has yet is left out, and a run without values for a key gets an empty line (so
            every axis holds exactly one line per run, in the same colour).
        title: optional legend title.

    Returns:
        A matplotlib Figure (not registered with pyplot). Each line's label is its run's
        `label`; the legend, right of the axes, names the runs "#1", "#2", ... (`runs_table`
        spells out their settings). Steps are whole numbers; a loss or lr axis is logarithmic
        only when its values span two decades (`use_log_scale`), so it has two tick labels.

    Raises:
        ValueError: no run, or no run has a value for any of `keys`.
    """
    if not runs:
        raise ValueError("plot_runs: no runs to draw")
    histories = [run.history for run in runs]
    present = [k for k in keys if any(k in row for h in histories for row in h)]
    if not present:
        raise ValueError(f"plot_runs: no run has values for {list(keys)} yet")
    fig = Figure(figsize=(3.2 * len(present) + 0.8, 3.0), layout="constrained")
    axes = fig.subplots(1, len(present), squeeze=False)[0]
    for ax, key in zip(axes, present):
        for run, history in zip(runs, histories):
            pts = [(row["step"], float(row[key])) for row in history if row.get(key) is not None]
            x, y = zip(*pts) if pts else ((), ())
            style = "--o" if key.startswith("val/") else "-o" if len(pts) <= 30 else "-"
            ax.plot(x, y, style, ms=3, color=run.color, label=run.label)
        values = [float(row[key]) for h in histories for row in h if row.get(key) is not None]
        if (key == "lr" or "loss" in key) and use_log_scale(values):
            ax.set_yscale("log")
        ax.set(title=key, xlabel="step")
        integer_steps(ax)
        ax.grid(alpha=0.3)
    handles = axes[0].get_lines()
    fig.legend(handles, [f"#{run.number}" for run in runs], loc="outside right upper", fontsize=TEXT_PT + 1,
               title=title, title_fontsize=TEXT_PT + 1)  # fmt: skip
    return fig


def runs_table(runs: Sequence[Run], header: str = "settings") -> str:
    """The runs as an HTML table for the panel: colour, number and settings of each, newest first.

    Args:
        runs: the panel's runs. header: the settings column's heading (what the parts mean).

    Returns:
        HTML: one row per run, its colour the one of its lines in `plot_runs`; "" without runs.
    """
    if not runs:
        return ""
    cell = "padding:1px 8px;text-align:left;vertical-align:top"
    rows = []
    for run in reversed(runs):
        number, _, settings = run.label.partition(": ")
        swatch = f"<span style='color:{to_hex(run.color)};font-size:16px'>&#9632;</span>"
        rows.append(
            f"<tr><td style='{cell}'>{swatch} {html.escape(number)}</td>"
            f"<td style='{cell}'>{html.escape(settings or run.label)}</td></tr>"
        )
    head = f"<tr><th style='{cell}'>run</th><th style='{cell}'>{html.escape(header)}</th></tr>"
    return f"<table style='font-size:13px;border-collapse:collapse'>{head}{''.join(rows)}</table>"


class PanelCallback:
    """Trainer callback: status line, run overlay and samples into the panel's widgets, from the training thread.

    Figures are rendered to PNG and set as the Output widgets' outputs: no IPython display
    hook is involved, so nothing lands in whichever cell happens to be running meanwhile.

    Args:
        panel: the `TrainingPanel` (uses its `stop_requested`, `say`, `runs`, `plot`, `samples`).
        min_interval: seconds between redraws of the curves (the final one is always drawn).
    """

    def __init__(self, panel: Any, min_interval: float = 2.0):
        self.panel, self.min_interval = panel, min_interval
        self._t0 = self._last_plot = self._last_status = 0.0

    def on_fit_start(self, trainer: Any) -> None:
        self._t0 = self._last_plot = time.monotonic()  # first curve after min_interval; the last one always
        if self.panel.stop_requested:  # Stop pressed while the run was being set up
            trainer.stop()

    def on_step_end(self, trainer: Any, step: int, terms: dict[str, float] | None) -> None:
        if self.panel.stop_requested:
            trainer.stop()
        now = time.monotonic()
        if now - self._last_status >= 0.5:
            self._last_status = now
            loss = f", loss {terms['total']:.4g}" if terms and "total" in terms else ""
            left = f", {trainer.estimate.left()}" if getattr(trainer, "estimate", None) else ""  # pconv.train.estimate
            self.panel.say(f"step {step}/{trainer.config.steps}{loss} ({now - self._t0:.0f} s{left})")

    def on_log(self, trainer: Any, row: dict[str, Any]) -> None:
        if time.monotonic() - self._last_plot >= self.min_interval:
            self.redraw(trainer)

    def on_samples(self, trainer: Any, step: int, figure: Any) -> None:
        saved = trainer.out / "samples" / f"step_{step:07d}.png"  # the trainer has just written it
        text = f"<samples at step {step}>"
        output = png_file_output(saved.read_bytes(), text) if saved.is_file() else png_output(figure, text)
        self.panel.samples.outputs = (output,)

    def on_fit_end(self, trainer: Any, history: list[dict[str, Any]]) -> None:
        self.redraw(trainer)

    def redraw(self, trainer: Any) -> None:
        """Draw every run of the panel (this one included) into its plot widget; keeps the Figure as `panel.figure`."""
        keys = ("loss/total", trainer.best.get("metric") or "val/psnr", "lr")
        with RENDER_LOCK:
            try:
                fig = plot_runs(self.panel.runs, keys, title="run")
            except ValueError:  # nothing logged yet
                return
            self.panel.plot.outputs = (png_output(fig, "<training runs>"),)
        self.panel.table.value = runs_table(self.panel.runs, self.panel.legend_title)
        self.panel.figure, self._last_plot = fig, time.monotonic()
