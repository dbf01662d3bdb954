"""Trainer callbacks: the hook protocol, a live notebook plot and a time budget.

    trainer = Trainer(model, loss_fn, config, callbacks=[LivePlot()])

A callback is any object with some of `Callback`'s methods; the trainer calls them on
rank 0 only (`on_step_end` on every rank). The CLI needs none of this: the trainer
logs plain lines through `logging`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pconv.train.trainer import Trainer

__all__ = ["Callback", "LivePlot", "StopAfter"]


class Callback:
    """The hooks `Trainer` calls; subclass and override the ones you need (all default to no-ops)."""

    def on_fit_start(self, trainer: Trainer) -> None:
        """Training (or resumed training) is about to start at `trainer.step`."""

    def on_step_end(self, trainer: Trainer, step: int, terms: dict[str, float] | None) -> None:
        """Step `step` (1-based) finished; `terms` is None when it was skipped (non-finite loss)."""

    def on_log(self, trainer: Trainer, row: dict[str, Any]) -> None:
        """A history row was recorded (losses, lr and, at validation steps, `val/<metric>`)."""

    def on_samples(self, trainer: Trainer, step: int, figure: Any) -> None:
        """A sample figure was drawn (and saved); the trainer closes it after this call."""

    def on_checkpoint(self, trainer: Trainer, path: Path) -> None:
        """A checkpoint was written to `path`."""

    def on_fit_end(self, trainer: Trainer, history: list[dict[str, Any]]) -> None:
        """`fit` is about to return `history` (finished, stopped or interrupted)."""


class LivePlot(Callback):
    """Redraw `pconv.evaluation.figures.plot_history` and show the latest sample figure under the running cell.

    Args:
        keys: history keys to plot (None: every loss and validation metric).
        min_interval: seconds between loss-plot redraws (the final one is always drawn).
    """

    def __init__(self, keys: Sequence[str] | None = None, min_interval: float = 2.0):
        self.keys, self.min_interval = keys, min_interval
        self._plot = self._grid = None
        self._last = 0.0

    def on_fit_start(self, trainer: Trainer) -> None:
        from IPython.display import DisplayHandle

        self._plot, self._grid, self._last = DisplayHandle(), DisplayHandle(), 0.0
        self._shown: set[int] = set()

    def _show(self, handle: Any, fig: Any) -> None:
        if id(handle) in self._shown:
            handle.update(fig)
        else:
            handle.display(fig)
            self._shown.add(id(handle))

    def _redraw(self, trainer: Trainer) -> None:
        # here, not at the top: matplotlib takes ~1.5 s to import, which `import pconv.train` does not need
        import matplotlib.pyplot as plt

        from pconv.evaluation.figures import plot_history

        if self._plot is None or not trainer.history:
            return
        fig = plot_history(trainer.history, self.keys)
        self._show(self._plot, fig)
        plt.close(fig)
        self._last = time.monotonic()

    def on_log(self, trainer: Trainer, row: dict[str, Any]) -> None:
        if time.monotonic() - self._last >= self.min_interval:
            self._redraw(trainer)

    def on_samples(self, trainer: Trainer, step: int, figure: Any) -> None:
        if self._grid is not None:
            self._show(self._grid, figure)  # the trainer closes the figure afterwards

    def on_fit_end(self, trainer: Trainer, history: list[dict[str, Any]]) -> None:
        self._redraw(trainer)


class StopAfter(Callback):
    """Stop training cleanly (with a checkpoint) after `seconds` of wall time: a time budget.

    Single-process runs only (under DDP the ranks would not stop together).
    """

    def __init__(self, seconds: float):
        self.seconds, self._t0 = seconds, None

    def on_fit_start(self, trainer: Trainer) -> None:
        self._t0 = time.monotonic()

    def on_step_end(self, trainer: Trainer, step: int, terms: dict[str, float] | None) -> None:
        if self._t0 is not None and time.monotonic() - self._t0 >= self.seconds:
            trainer.stop()
