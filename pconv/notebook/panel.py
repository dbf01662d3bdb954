"""The training panel: train partial-convolution inpainting (Liu et al. 2018, arXiv:1804.07723) from a notebook.

Every control is declared once, in `TRAINING_CONTROLS` (name, widget kind, range, where the
value goes, tooltip). Start values come from `TrainConfig`, `InpaintingLoss` and the mask
generator; only the panel's row of the one sizing table (`pconv.train.SIZES`) differs: a small
model and a short run, so a first Train finishes on a CPU. Train builds the model, the data
and the loss from the controls, unless the caller pinned them by passing them in (their
controls are then disabled and say so), and runs `Trainer.fit` in a background thread;
Stop ends the run after the current step, with a checkpoint. Each Train starts from fresh
weights and a fresh optimizer; ticking "continue" trains the last run's weights and
optimizer for more steps instead. What one Train will do is decided, and checked, before its
thread starts (`pconv.notebook.panel_plan`), from the controls at that moment: no control can
change a running run, so all of them are disabled while it trains, and enabled again when it
ends, however it ends. The curves of successive runs overlay, numbered, with a table of their
settings (`pconv.notebook.panel_plot`); what the trainer notes on the way (a continued run's
changed settings) is shown as a note, not as an error (`pconv.notebook.panel_notes`).
"""

from __future__ import annotations

import html
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from pconv.notebook.panel_controls import (
    LOSS_TERMS,
    PINNED_WHY,
    ROWS,
    TRAINING_CONTROLS,
    build_data,
    build_loss,
    build_model,
    make_config,
    peek_size,
    run_label,
    training_controls,
)
from pconv.notebook.panel_notes import TrainerNotes, error_html, info_html
from pconv.notebook.panel_plan import RunPlan, plan_run
from pconv.notebook.panel_plot import PanelCallback, Run, runs_table
from pconv.train import Trainer

__all__ = ["LOCKED_NOTE", "TrainingPanel", "training_panel"]

LOCKED_NOTE = (
    "Settings are read when Train is pressed, so they are locked while this run trains: none of them "
    "changes a running run. Change them for the next Train once it ends (Stop ends it after the current step)."
)


class TrainingPanel(widgets.VBox):
    """Controls, Train / Stop buttons, a status line, live curves of every run and a sample grid.

    Built by `training_panel` (see there for the controls and the pinning rules).

    Attributes:
        controls: name -> control widget (the rows of `TRAINING_CONTROLS`).
        pinned: {"model" | "data" | "loss": the object passed in}; their controls are disabled.
        train_button, stop_button: "Train" and "Stop"; `start()` and `stop()` do what they do.
        status: HTML status line. note: what is pinned and why, that the settings are locked
        while a run trains, and the trainer's notes on the last run (info style).
        plot, samples: Output widgets. table: HTML, the runs' numbers, colours and settings.
        model, train_data, val_data, loss_fn: what the last run trained with (None before it).
        trainer: the last `Trainer`; history: its history. runs: every `Run` of this panel.
        figure: the last overlay Figure drawn. error: the exception that ended the last run, or None.
        thread: the training thread of the last run.
    """

    def __init__(
        self,
        model: Any,
        train_data: Any,
        val_data: Any,
        loss_fn: Any,
        config: Any,
        controls: dict[str, widgets.Widget],
        **kwargs: Any,
    ):
        given = {"model": model, "data": train_data, "loss": loss_fn}
        self.controls, self.pinned = controls, {k: v for k, v in given.items() if v is not None}
        self.model, self.train_data, self.val_data, self.loss_fn = model, train_data, val_data, loss_fn
        self._given_val, self._config = val_data, config
        self.trainer = self.error = self.thread = self.figure = None
        self.runs: list[Run] = []
        self._stop_event, self._last_out, self._initial_state = threading.Event(), None, None
        self._held = {r.name for r in TRAINING_CONTROLS if r.target in self.pinned}  # disabled for good
        self._notes: list[str] = []  # the trainer's notes on the last run, as HTML
        self.legend_title = "layers x channels (conv), size, holes, lr, batch, steps, weights " + "/".join(LOSS_TERMS)
        self.train_button = widgets.Button(description="Train", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.train_button.tooltip = "train with these settings in the background"
        self.stop_button.tooltip = "end the run after the current step, with a checkpoint"
        self.status = widgets.HTML("Set the controls and press <b>Train</b>: training runs in the background.")
        self.plot, self.samples, self.table = widgets.Output(), widgets.Output(), widgets.HTML()
        self.train_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())
        self._pinned_notes = [
            f"<i>{ROWS[t]} pinned: {html.escape(why)}</i>" for t, why in PINNED_WHY.items() if t in self.pinned
        ]
        self.note = widgets.HTML()
        self._show_notes()
        children = [
            widgets.HBox(
                [widgets.HTML(f"<b>{title}</b>", layout={"width": "110px"})]
                + [controls[r.name] for r in TRAINING_CONTROLS if r.target == target],
                layout={"flex_flow": "row wrap"},
            )
            for target, title in ROWS.items()
        ]
        buttons = widgets.HBox([self.train_button, self.stop_button, controls["continue"], self.status])
        super().__init__(children=[*children, self.note, buttons, self.plot, self.table, self.samples], **kwargs)

    # ------------------------------------------------------------------ public
    @property
    def running(self) -> bool:
        """True while a training thread is alive."""
        return self.thread is not None and self.thread.is_alive()

    @property
    def stop_requested(self) -> bool:
        """True once Stop was pressed for the current run."""
        return self._stop_event.is_set()

    @property
    def history(self) -> list[dict[str, Any]]:
        """The last run's history rows ([] before the first run)."""
        return self.trainer.history if self.trainer is not None else []

    def values(self) -> dict[str, Any]:
        """{control name: current value}."""
        return {k: c.value for k, c in self.controls.items()}

    def make_config(self) -> Any:
        """The `TrainConfig` the "train" controls describe now (run folder and total resolved at `start`)."""
        return make_config(self.values(), self._config)

    def start(self) -> bool:
        """What Train does: read the controls and start training in a background thread.

        Returns:
            True when a run started; False when one is already running or a control is invalid
            (the status line says why).
        """
        if self.running:
            return False
        try:
            plan = plan_run(self.values(), self._config, self._last_out, self.model, self.pinned)
        except ValueError as e:
            self.say(f"cannot start: {e}", error=True)
            return False
        self._stop_event.clear()
        self.error, self._last_out, self._notes = None, plan.config.out, []
        self._lock(True)
        how = f"continuing from step {plan.start_step}" if plan.resume else "fresh weights"
        self.say(
            f"starting ({how}): up to step {plan.config.steps}, run folder <code>{html.escape(plan.config.out)}</code>"
        )
        self.thread = threading.Thread(target=self._run, args=(plan,), name="pconv-training", daemon=True)
        self.thread.start()
        return True

    def stop(self) -> None:
        """What Stop does: end the run after the current step; `fit` then writes a checkpoint."""
        self._stop_event.set()
        if self.running and self.trainer is not None:
            self.trainer.stop()
            self.say("stopping after this step ...")

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the training thread; True when no run is going on any more."""
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.running

    def say(self, text: str, error: bool = False) -> None:
        """Set the status line: `text` is HTML, or with `error=True` plain text in the error style."""
        self.status.value = error_html(text) if error else text

    def _lock(self, running: bool) -> None:
        """Train, Stop and the controls for a run that starts (`running`) or has ended; pinned controls stay off."""
        for name, control in self.controls.items():
            control.disabled = running or name in self._held
        self.train_button.disabled, self.stop_button.disabled = running, not running
        self._show_notes()

    def _show_notes(self) -> None:
        locked = [info_html(LOCKED_NOTE)] if self.train_button.disabled else []
        self.note.value = "<br>".join(self._pinned_notes + locked + self._notes)

    def _trainer_note(self, level: int, text: str) -> None:
        """A record the trainer logged from this panel's run (`TrainerNotes`): a note, or an error from ERROR up."""
        self._notes.append(error_html(text) if level >= logging.ERROR else info_html(f"note: {text}"))
        self._show_notes()

    # ------------------------------------------------------------------ one run
    def _run(self, plan: RunPlan) -> None:
        try:
            with TrainerNotes(self._trainer_note):
                model, train_data, val_data, loss_fn = self._build(plan)
                trainer = Trainer(model, loss_fn, plan.config, callbacks=[PanelCallback(self)])
                self.trainer, self.model, self.train_data, self.val_data, self.loss_fn = (
                    trainer, model, train_data, val_data, loss_fn
                )  # fmt: skip
                self.runs.append(Run(len(self.runs) + 1, self._label(plan), trainer, plan.start_step))
                self.table.value = runs_table(self.runs, self.legend_title)
                trainer.fit(train_data, val_data, resume=plan.resume)
            how = "stopped" if trainer.step < plan.config.steps else "finished"
            self.say(
                f"{how} at step {trainer.step}/{plan.config.steps}; checkpoint in "
                f"<code>{html.escape(str(trainer.out))}</code>"
            )
        except BaseException as e:  # noqa: BLE001  (shown in the panel: a thread has no caller to raise to)
            self.error = e
            self.say(f"training failed: {type(e).__name__}: {e}", error=True)
        finally:
            self._lock(False)  # whatever ended the run: the controls are the user's again

    def _build(self, plan: RunPlan) -> tuple[Any, Any, Any, Any]:
        """Model, data and loss of a run: the pinned ones, else built from the controls."""
        config, v, model = plan.config, plan.values, self.pinned.get("model")
        if model is not None:  # fresh weights for a pinned model: the ones it came with
            if self._initial_state is None:
                self._initial_state = {k: t.detach().to("cpu", copy=True) for k, t in model.state_dict().items()}
            elif not plan.resume:
                model.load_state_dict(self._initial_state)
        else:
            model = self.model if plan.reuse_model else build_model(v, config.seed)
        if hasattr(model, "freeze_encoder_bn"):
            model.freeze_encoder_bn(False)  # a reused model may be frozen from fine-tuning; the trainer re-freezes
        if "data" in self.pinned:
            train_data, val_data = self.pinned["data"], self._given_val
            config.size = peek_size(train_data) or config.size  # the checkpoint records the real size
        else:
            train_data, val_data = build_data(v, config.size, config.seed)
            val_data = val_data if self._given_val is None else self._given_val
        loss_fn = self.pinned["loss"] if "loss" in self.pinned else build_loss(v)
        return model, train_data, val_data, loss_fn

    def _label(self, plan: RunPlan) -> str:
        """The legend entry of a run: its settings, and which run it continues."""
        continues, out = "", Path(plan.config.out)
        if plan.resume:
            earlier = [f"#{r.number}" for r in self.runs if Path(r.trainer.out) == out]
            continues = earlier[-1] if earlier else out.name
        return run_label(len(self.runs) + 1, plan.values, plan.config, self.pinned, continues)


def training_panel(
    model: Any = None,
    train_data: Any = None,
    val_data: Any = None,
    *,
    loss_fn: Any = None,
    config: Any = None,
    out: str | os.PathLike | None = None,
    start: Mapping[str, Any] | None = None,
) -> TrainingPanel:
    """A panel to train an inpainting model from the notebook: controls, Train / Stop, live curves.

    Building it trains, builds and draws nothing. Train builds what is not pinned from the
    controls (`PConvUNet(layers, base_channels, conv=conv)` seeded by `config.seed`; crops of the offline
    sample photos at "size" with masks in "hole range"; `InpaintingLoss` with the weights) and
    runs `Trainer.fit` in a background thread; Stop ends the run after the current step, with a
    checkpoint. Each Train starts from fresh weights and a fresh optimizer in a new run folder
    (a pinned model is reset to the weights it came with); tick "continue" to train the last
    run (or the run in "out") for "steps" more steps. The curves of all runs overlay, one line
    per run with its settings in the legend. `panel.model`, `.trainer`, `.history` hold the last
    run; `panel.join(timeout)` waits for it.

    Controls: `.controls`, one per row of `pconv.notebook.panel_controls.TRAINING_CONTROLS` (names,
    ranges, where each value goes and tooltips are declared there).

    Args:
        model: pins the network (disables "layers", "channels" and "conv"); None: built from the controls.
        train_data: pins the training data, a Dataset (or DataLoader) of {"image", "mask"}
            (disables "size" and "hole range"); None: the sample photos per the controls.
        val_data: held-out data for validation and the samples; None with default training
            data: 8 crops of the sample set's held-out photos.
        loss_fn: pins the loss (disables the weights); None: `InpaintingLoss` from the controls.
        config: a `TrainConfig` giving start values and every other setting; None: `TrainConfig`
            defaults with the panel's sizes (`pconv.train.SIZES`), logging and checkpoints scaled to "steps".
        out: start value of the run-folder control (default: `config.out`, else empty).
        start: start values of other controls by name, e.g. {"layers": 6, "hole_range": (0.1, 0.5)}.

    Returns:
        The `TrainingPanel` (an ipywidgets VBox): display it, or make it a cell's last expression.
    """
    pinned = {"model": model, "data": train_data, "loss": loss_fn}
    controls = training_controls(config, {k: v for k, v in pinned.items() if v is not None}, out, start)
    return TrainingPanel(model, train_data, val_data, loss_fn, config, controls)
