"""What training runs leave behind: the checkpoint that stands for a run, and every run under outputs/runs/.

A run folder (`pconv.train.trainer.Trainer`'s `out`) holds `ckpt_<step>.pt` files, the newest
`keep_last` of them, and `best.pt` once a validation improved on the ones before.
The checkpoint that stands for a run is `best.pt` when there is one, else its newest
`ckpt_<step>.pt` (by the step recorded inside): a run stopped before its first validation
has no `best.pt`. Only a checkpoint that passes `pconv.train.checkpoint_checks` (it loads, its weights
are finite, its fields have their types) stands for a run, so a junk `ckpt_50.pt` does not
hide a good `ckpt_4.pt` (`pconv.train.checkpoint.newest_good`).
`05_unet_segmentation` picks up the weights of a run that was stopped early; `run_folders` is
the one listing of the run folders. `best_runs` ranks the runs by the validation score the trainer
recorded (PSNR for inpainting): `04_evaluate` compares the best ones, and the inpainting studio
(`pconv.notebook.studio`) ticks the best one, leaving out smoke and tiny runs (fewer than `MIN_STEPS`
steps), whose fills are noise.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from pconv.train.checkpoint import CheckpointError, checkpoint_step, newest_good, peek_checkpoint
from pconv.train.checkpoint_model import model_from_checkpoint
from pconv.train.size_table import SIZES
from pconv.train.tasks import InpaintingTask, SegmentationTask
from pconv.utils import output_dir

__all__ = [
    "MIN_STEPS",
    "RankedRun",
    "run_checkpoint",
    "checkpoint_task",
    "run_folders",
    "find_checkpoints",
    "best_runs",
    "load_models",
]

# The smoke configurations train 2 to 4 steps (`pconv.train.SIZES`, kind "smoke"); the shortest real
# run in pconv, the training panel's first one, 200. Fewer steps than this fill with noise.
MIN_STEPS = 200
_METRICS = {task.name: f"val/{task.best_metric}" for task in (InpaintingTask, SegmentationTask)}


def run_checkpoint(folder: str | os.PathLike) -> Path | None:
    """The checkpoint that stands for a run: `best.pt`, else the newest `ckpt_<step>.pt`, of those that pass.

    Args:
        folder: a run folder (a Trainer's `out`).

    Returns:
        The path, or None when the folder holds no checkpoint that passes (the ones skipped
        are logged with the reason).
    """
    return newest_good(folder)


def checkpoint_task(path: str | os.PathLike) -> str | None:
    """The task a checkpoint was trained for ("inpainting", "segmentation"), read without loading its tensors.

    Returns:
        The task name; None when the file cannot be read or records none.
    """
    ckpt = peek_checkpoint(path)  # truncated, corrupt or not a checkpoint: it says nothing about a task
    config = ckpt.get("config") if ckpt is not None else None
    return config.get("task", "inpainting") if isinstance(config, dict) else None


def run_folders(root: str | os.PathLike | None = None) -> list[Path]:
    """The run folders directly under `root`, by name (the one place that lists them).

    Args:
        root: the folder that holds run folders; default `$PCONV_OUTPUT_DIR/runs`.

    Returns:
        The sub-folders of `root`, sorted by name; empty when `root` does not exist.
    """
    root = Path(root) if root is not None else output_dir() / "runs"
    return sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def find_checkpoints(root: str | os.PathLike | None = None, task: str | None = "inpainting") -> list[Path]:
    """The checkpoint of every run folder directly under `root` (`run_checkpoint`), oldest first.

    Args:
        root: the folder that holds run folders; default `$PCONV_OUTPUT_DIR/runs`.
        task: keep only checkpoints of this task (segmentation runs live beside
            inpainting runs); None keeps every one.

    Returns:
        Paths ordered by modification time; empty when there are no runs.
    """
    found = [run_checkpoint(folder) for folder in run_folders(root)]
    found = [p for p in found if p is not None and (task is None or checkpoint_task(p) == task)]
    return sorted(found, key=lambda p: (p.stat().st_mtime, str(p)))


@dataclass(frozen=True)
class RankedRun:
    """One training run as `best_runs` ranks it.

    Attributes:
        name: the run folder's name, e.g. "20261201-101500": short, for labels.
        folder: the run folder (full path).
        checkpoint: the checkpoint that stands for the run (`run_checkpoint`): best.pt when there is one.
        steps: the training steps the run has done (the highest step of its checkpoints that pass).
        size: the crop side it was trained at, pixels (the longer side of an (H, W) crop).
        score: its best validation score (`metric`; PSNR in dB for inpainting); None when it never validated.
        metric: the history column of `score`, e.g. "val/psnr".
        recipe: "quickstart-cpu", "quickstart-cuda" or "quickstart-smoke" when the run is the quickstart
            recipe's (notebook 00, or 04's fallback run), recognised by its model, crop size, batch and
            learning rate (`pconv.train.SIZES`); None for any other run.
        conv: the convolution of its network ("partial", the paper's; or another variant the model records).
    """

    name: str
    folder: Path
    checkpoint: Path
    steps: int
    size: int
    score: float | None
    metric: str
    recipe: str | None
    conv: str


def _recipe(config: dict[str, Any]) -> str | None:
    """The quickstart recipe whose settings `config` (a checkpoint's) has, by name ("quickstart-cpu"); None if none."""
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    kwargs = model.get("kwargs") if isinstance(model.get("kwargs"), dict) else {}
    for (use, kind), spec in SIZES.items():
        train = spec.get("train_kwargs", {}) if use == "quickstart" else None
        if (
            train is not None
            and model.get("name") == spec.get("model_name", "PConvUNet")
            and all(kwargs.get(k) == v for k, v in spec["model_kwargs"].items())
            and config.get("size") == spec["size"]
            and config.get("batch_size") == train.get("batch_size")
            and config.get("lr") == train.get("lr")
        ):
            return f"{use}-{kind}"
    return None


def _score(ckpt: dict[str, Any], metric: str) -> float | None:
    """The best finite `metric` a checkpoint records: its `best` entry, else the best row of its history."""
    best = ckpt.get("best") if isinstance(ckpt.get("best"), dict) else {}
    values = [best.get("value")] if best.get("metric") == metric else []
    history = ckpt.get("history") if isinstance(ckpt.get("history"), list) else []
    values += [row.get(metric) for row in history if isinstance(row, dict)]
    finite = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
    return max(finite) if finite else None


def _ranked(folder: Path, task: str) -> RankedRun | None:
    """`folder` as a `RankedRun`; None when it holds no checkpoint that passes, or one of another task."""
    path = run_checkpoint(folder)
    ckpt = peek_checkpoint(path) if path is not None else None  # tensors stay on disk
    config = ckpt.get("config") if ckpt is not None else None
    config = config if isinstance(config, dict) else {}
    if ckpt is None or config.get("task", "inpainting") != task:
        return None
    newest = newest_good(folder, best=False) if path.name == "best.pt" else path  # best.pt: the best step's
    steps = max(int(ckpt["step"]), (checkpoint_step(newest) or 0) if newest is not None else 0)
    size = config.get("size", 0)
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    kwargs = model.get("kwargs") if isinstance(model.get("kwargs"), dict) else {}
    metric = _METRICS.get(task, f"val/{task}")
    return RankedRun(
        name=folder.name,
        folder=folder,
        checkpoint=path,
        steps=steps,
        size=int(max(size) if isinstance(size, (list, tuple)) else size),
        score=_score(ckpt, metric),
        metric=metric,
        recipe=_recipe(config),
        conv=str(kwargs.get("conv") or config.get("conv") or "partial"),
    )


def best_runs(
    root: str | os.PathLike | None = None,
    *,
    task: str = "inpainting",
    min_steps: int = MIN_STEPS,
    limit: int | None = None,
) -> list[RankedRun]:
    """The runs under `root`, best first by the validation score their trainer recorded.

    A run's score is its best validation of the task's metric (PSNR of the composite for
    inpainting, Dice for segmentation), as best.pt records it (`pconv.train.history.record_best`).
    Runs that never validated come after the scored ones, longest first. Scores of runs trained
    at different crop sizes are ranked as they are, although a larger crop usually scores lower.

    Args:
        root: the folder that holds run folders; default `$PCONV_OUTPUT_DIR/runs`.
        task: keep only runs of this task ("inpainting", "segmentation").
        min_steps: leave out runs trained fewer steps (smoke and tiny runs; default `MIN_STEPS`).
        limit: at most this many runs; None for every one.

    Returns:
        `RankedRun`s, best first: short name, folder, checkpoint, steps, training size, score.
        Runs without a checkpoint that passes (`run_checkpoint`) are left out.
    """
    if isinstance(min_steps, bool) or not isinstance(min_steps, int) or min_steps < 0:
        raise ValueError(f"min_steps must be an int >= 0 (training steps), got {min_steps!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be None or an int >= 0 (how many runs), got {limit!r}")
    runs = [r for folder in run_folders(root) if (r := _ranked(folder, task)) is not None and r.steps >= min_steps]
    runs.sort(key=lambda r: (r.score is None, -(r.score or 0.0), -r.steps, r.name))  # ties: longer, then by name
    return runs[:limit]


def load_models(paths: Sequence[str | os.PathLike], device: str | torch.device = "cpu") -> dict[str, nn.Module]:
    """Rebuild the model of each checkpoint (`pconv.train.checkpoint_model.model_from_checkpoint`), in eval mode.

    Args:
        paths: checkpoint files.
        device: where the models go.

    Returns:
        {"<run folder>/<file stem>": model}, e.g. {"20261201-101500/best": PConvUNet(...)}, in
        the order of `paths`.

    Raises:
        CheckpointError: a file is missing or unreadable, or names no pconv model (the message
            names the file).
        ValueError: two paths are the same file.
    """
    models: dict[str, nn.Module] = {}
    for path in map(Path, paths):
        name = f"{path.parent.name}/{path.stem}"
        if name in models:
            raise ValueError(f"{path} is given twice (as {name!r}); list each checkpoint once")
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path} does not exist (expected best.pt or ckpt_<step>.pt of a run)")
        models[name] = model_from_checkpoint(path, device=device)
    return models
