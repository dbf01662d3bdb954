"""The training runs the inpainting studio offers: each run's checkpoints, once each, the best run first.

A run folder (`pconv.train.Trainer`'s `out`) holds `best.pt` (the weights of its best validation)
and its newest `ckpt_<step>.pt`. The studio offers both, but when best.pt was written at the last
step they are the same weights, and two methods would draw two identical tiles: the step's file
is then left out (same recorded step, then equal bytes or equal tensors). Runs are ranked by the
validation PSNR their trainer recorded (`pconv.train.best_runs`); a run trained fewer than
`MIN_STEPS` steps (a smoke or tiny run, whose fills are noise) is listed after the others and is
never ticked at start.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import NamedTuple

import torch

from pconv.train import best_runs, checkpoint_step, checkpoint_task, list_checkpoints, newest_good, run_folders
from pconv.train.runs import MIN_STEPS, RankedRun

__all__ = ["RunCheckpoint", "run_checkpoints"]

log = logging.getLogger("pconv.notebook.studio")


class RunCheckpoint(NamedTuple):
    """One checkpoint file of a run, as the studio lists it.

    Attributes:
        name: "<run folder>/best" or "<run folder>/step <N>".
        path: the file.
        trusted: it can be read and its run trained at least `MIN_STEPS` steps (it may be ticked at start).
        steps: the steps its run trained (None when no checkpoint of the run can be read).
        detail: "2000 steps, val PSNR 24.3 dB" and the like, for the label.
    """

    name: str
    path: Path
    trusted: bool
    steps: int | None
    detail: str


def _same_weights(a: Path, b: Path) -> bool:
    """True when two checkpoint files hold equal weights (best.pt written at the step of `b`)."""
    try:
        if a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes():
            return True
        wa, wb = (torch.load(p, map_location="cpu", weights_only=True, mmap=True)["model"] for p in (a, b))
        return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    except Exception:  # noqa: BLE001  (one that cannot be read stays listed: its tile says why)
        return False


def _files(run: Path) -> list[tuple[str, Path]]:
    """(name, path) of a run's best.pt and newest good ckpt_<step>.pt, the latter left out when it holds the
    same weights. A best.pt that cannot be read, or a run with no good ckpt_<step>.pt (then its
    highest-numbered one), stays listed, so that its tile says what is wrong."""
    best = run / "best.pt"
    files = [(f"{run.name}/best", best)] if best.is_file() else []
    skipped = functools.partial(log.warning, "inpaint studio: run %s: %s", run.name)  # each file passed over
    if (newest := newest_good(run, warn=skipped, best=False)) is not None:
        step = checkpoint_step(newest)
        if not (files and checkpoint_step(best) == step and _same_weights(best, newest)):
            files.append((f"{run.name}/step {step}", newest))
    elif named := list_checkpoints(run):  # none good: the highest-numbered one, so that its tile says why
        step, path = named[-1]
        files.append((f"{run.name}/step {step}", path))
    return files


def _detail(run: RankedRun | None) -> str:
    """What the studio shows beside a run's checkpoint: "2000 steps, val PSNR 24.3 dB, gated conv"."""
    if run is None:
        return "cannot be read"
    parts = [f"{run.steps} steps"]
    if run.score is not None and run.metric == "val/psnr":
        parts.append(f"val PSNR {run.score:.1f} dB")
    if run.steps < MIN_STEPS:
        parts.append("smoke/tiny run")
    if run.conv != "partial":  # the paper's partial convolution goes without saying
        parts.append(f"{run.conv} conv")
    return ", ".join(parts)


def run_checkpoints(runs: str | os.PathLike | None = None) -> list[RunCheckpoint]:
    """The checkpoints of every inpainting run under `runs`, the trusted runs first, best first.

    Order: the runs trained at least `MIN_STEPS` steps by validation PSNR (`best_runs`), then
    the others (smoke and tiny runs, runs that cannot be read), newest first. Segmentation runs
    (05's U-Nets live in the same folder) are left out.

    Args:
        runs: the folder of training runs (default `$PCONV_OUTPUT_DIR/runs`).
    """
    ranked = {r.folder: r for r in best_runs(runs, min_steps=0)}
    rank = {folder: i for i, folder in enumerate(ranked)}
    found = []
    for folder in run_folders(runs):
        files = [(name, path, checkpoint_task(path)) for name, path in _files(folder)]
        files = [(name, path, task) for name, path, task in files if task != "segmentation"]
        if not files:
            continue
        run = ranked.get(folder)
        steps = run.steps if run is not None else None
        good = steps is not None and steps >= MIN_STEPS
        newest = max(p.stat().st_mtime for _, p, _ in files)
        key = (0, rank[folder], 0.0) if good else (1, 0, -newest)
        listed = [RunCheckpoint(n, p, good and task is not None, steps, _detail(run)) for n, p, task in files]
        found.append((key, listed))
    found.sort(key=lambda item: item[0])
    return [c for _, listed in found for c in listed]
