"""What training runs leave behind: the checkpoint that stands for a run, and every run under outputs/runs/.

A run folder (`pconv.train.trainer.Trainer`'s `out`) holds `ckpt_<step>.pt` files, the newest
`keep_last` of them, and `best.pt` once a validation improved on the ones before.
The checkpoint that stands for a run is `best.pt` when there is one, else its newest
`ckpt_<step>.pt` (by the step recorded inside): a run stopped before its first validation
has no `best.pt`. Only a checkpoint that passes `pconv.train.checkpoint_checks` (it loads, its weights
are finite, its fields have their types) stands for a run, so a junk `ckpt_50.pt` does not
hide a good `ckpt_4.pt` (`pconv.train.checkpoint.newest_good`).
`04_evaluate` compares the runs it finds this way; `05_unet_segmentation` picks up the
weights of a run that was stopped early; `run_folders` is the one listing of the run folders.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from pconv.train.checkpoint import CheckpointError, newest_good, peek_checkpoint
from pconv.train.checkpoint_model import model_from_checkpoint
from pconv.utils import output_dir

__all__ = ["run_checkpoint", "checkpoint_task", "run_folders", "find_checkpoints", "load_models"]


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
