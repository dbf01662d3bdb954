"""What one Train of the training panel will do: decided, and checked, before the run's thread starts.

The panel trains in a background thread, where an error has no caller to raise to; so every
setting that can be refused is refused here, in the kernel's thread, with a message for the
status line: a size that is not a multiple of 2**layers (the U-Net of Liu et al. 2018,
arXiv:1804.07723, halves the size `layers` times), "continue" with nothing to continue, or a
fresh run aimed at a folder that holds one (which would mix two runs' checkpoints). The plan
also fixes the values the run is built from, so that editing a control while it trains
changes nothing of that run.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from pathlib import Path
from typing import Any

from pconv.notebook.panel_controls import make_config, model_kwargs
from pconv.train import TrainConfig, list_checkpoints
from pconv.utils import output_dir

__all__ = ["RunPlan", "plan_run"]

_RUN_IDS = itertools.count(1)  # two Trains within a second still get two folders


@dataclasses.dataclass
class RunPlan:
    """What one Train will do, decided (and checked) in the kernel's thread before the run starts."""

    values: dict[str, Any]  # the controls at the click: the run is built from these, not from later edits
    config: TrainConfig
    resume: bool  # continue: load the newest checkpoint in config.out
    start_step: int
    reuse_model: bool  # continue the panel's own last run: keep its model object


def plan_run(
    values: dict[str, Any],
    base: TrainConfig | None,
    last_out: str | None,
    last_model: Any,
    pinned: dict[str, Any],
) -> RunPlan:
    """The plan of a Train from the controls' values; raises ValueError with the status line's message.

    Args:
        values: {control name: value} at the click (`TrainingPanel.values()`).
        base: the panel's `TrainConfig` (start values and every other setting), or None.
        last_out: the run folder of the panel's last run, or None before the first.
        last_model: the model the last run trained, or None.
        pinned: {"model" | "data" | "loss": the object passed in} of the panel.

    Returns:
        The `RunPlan`; its `config.out` is a new folder under `$PCONV_OUTPUT_DIR/runs/` unless
        "out" names one (or "continue" goes on with the last run's).

    Raises:
        ValueError: a control the run cannot start with (the message says which and what to do).
    """
    config, resume, arch = make_config(values, base), bool(values["continue"]), model_kwargs(values)
    folder, start, reuse = config.out, 0, False
    if resume:
        folder = folder or last_out
        found = list_checkpoints(folder) if folder else []
        if not found:
            where = f"no checkpoint in {folder}" if folder else "no run yet; press Train once first"
            raise ValueError(f"continue: {where} (or name a run folder in 'out'); untick continue for fresh weights")
        start = found[-1][0]
        config = dataclasses.replace(config, steps=start + config.steps)
        reuse = folder == last_out and last_model is not None and "model" not in pinned
        kept = {k: type(v)(last_model.config.get(k, v)) for k, v in arch.items()} if reuse else arch
        if kept != arch:
            raise ValueError(
                f"continue keeps the last run's model ({kept['layers']} layers, {kept['base_channels']} channels, "
                f"{kept['conv']} convolutions): set those back, or untick continue"
            )
    elif folder and (list_checkpoints(folder) or (Path(folder) / "best.pt").exists()):
        raise ValueError(f"out: {folder} holds a run already; tick continue to train it further, or clear 'out'")
    config.out = folder or str(output_dir() / "runs" / f"panel-{time.strftime('%Y%m%d-%H%M%S')}-{next(_RUN_IDS)}")
    model = pinned.get("model")
    multiple = getattr(model, "multiple", 1) if model is not None else 2 ** arch["layers"]
    if "data" not in pinned and config.size % multiple:
        raise ValueError(f"size {config.size} must be a multiple of 2**layers = {multiple}")
    return RunPlan(values, config, resume, start, reuse)
