"""How long notebook 07's ablation will take on this machine, measured before any run starts.

Each arm's network is timed for a few training steps on one batch of its own data (forward, loss,
backward, Adam: the work of a `Trainer` step), and each classical fill on one test image; the
runs' validation, sample grid and checkpoints are added from the guesses of
`pconv.train.estimate` (they are timed there once a run is under way):

    est = estimate_ablation(settings)
    print(est.describe())   # about 14 min in all; inpainting: 12 run(s) of 300 steps (partial 0.13 s/step, ...)

Finished runs (a folder that already reached its steps) cost nothing and are left out.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import default_collate

from pconv.evaluation import available_baselines
from pconv.train.ablations import TASKS, AblationSettings, arm_data, arm_loss, arm_model
from pconv.train.checkpoint import checkpoint_step
from pconv.train.estimate import GUESS
from pconv.train.runs import run_checkpoint
from pconv.train.tasks import InpaintingTask, SegmentationTask

__all__ = ["AblationEstimate", "estimate_ablation"]

TIMED_STEPS = 3  # after one untimed warm-up step; their median, so that one step slowed by a neighbour does not count


@dataclass(frozen=True)
class AblationEstimate:
    """The measured cost of the ablation's parts on this machine.

    Attributes:
        step_seconds: {(task, arm): seconds per training step, data loading included}.
        runs_left: {(task, arm): runs of that arm still to train (or finish)}.
        steps: {task: steps per run}.
        fill_seconds: {classical fill: seconds for the whole test set}.
        train_seconds, eval_seconds: the estimates for training (events included) and for scoring.
    """

    step_seconds: dict[tuple[str, str], float]
    runs_left: dict[tuple[str, str], int]
    steps: dict[str, int]
    fill_seconds: dict[str, float]
    train_seconds: float
    eval_seconds: float

    @property
    def seconds(self) -> float:
        """The whole estimate: training and scoring."""
        return self.train_seconds + self.eval_seconds

    def describe(self) -> str:
        """A few lines: the total, then what each task's runs and the scoring take."""
        lines = [f"Estimated time on this machine: about {_minutes(self.seconds)} in all"]
        for task, steps in self.steps.items():
            arms = [(arm, s) for (t, arm), s in self.step_seconds.items() if t == task]
            left = sum(self.runs_left[(task, arm)] for arm, _ in arms)
            rates = ", ".join(f"{arm} {s:.2g} s/step" for arm, s in arms)
            lines.append(f"  {task}: {left} run(s) of {steps} steps to train ({rates})")
        slow = sorted(self.fill_seconds.items(), key=lambda kv: -kv[1])[:2]
        fills = ", ".join(f"{name} {s:.0f} s" for name, s in slow)
        lines.append(f"  scoring: about {_minutes(self.eval_seconds)} (slowest fills on the test set: {fills})")
        return "\n".join(lines)


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def _step_seconds(settings: AblationSettings, task: str, arm: str, batch: dict) -> float:
    """Seconds per training step of the arm's fresh network on `batch` (median of `TIMED_STEPS`)."""
    device = torch.device(settings.device)
    model = arm_model(settings, task, arm, settings.seeds[0]).to(device).train()
    loss_fn = arm_loss(settings, task)
    loss_fn = loss_fn.to(device) if isinstance(loss_fn, torch.nn.Module) else loss_fn
    hook = InpaintingTask() if task == "inpainting" else SegmentationTask()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    batch = {k: v.to(device) for k, v in batch.items() if isinstance(v, torch.Tensor)}
    took = []
    for _ in range(TIMED_STEPS + 1):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        hook.loss(model, batch, loss_fn)["total"].backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        took.append(time.perf_counter() - start)
    return statistics.median(took[1:])


def _batch(data: Any, first: int, n: int) -> dict:
    """Items first..first+n-1 of `data` (from its start again past its end) as one batch, tensors only."""
    items = [data[i % len(data)] for i in range(first, first + n)]
    return default_collate([{k: v for k, v in item.items() if k != "id"} for item in items])


def _runs_left(settings: AblationSettings, task: str, arm: str, root: str | os.PathLike | None) -> int:
    steps = settings.steps if task == "inpainting" else settings.seg_steps
    left = 0
    for seed in settings.seeds:
        path = run_checkpoint(settings.run_folder(task, arm, seed, root))
        left += path is None or (checkpoint_step(path) or 0) < steps
    return left


def estimate_ablation(
    settings: AblationSettings,
    *,
    baselines: Sequence[str] | None = None,
    root: str | os.PathLike | None = None,
) -> AblationEstimate:
    """Time every arm's training step and every classical fill here; add up what the ablation needs.

    Args:
        settings: from `ablation_settings`.
        baselines: the fills that will be scored; None: every available one.
        root: where the run folders are (default `$PCONV_OUTPUT_DIR/runs`): finished runs are free.

    Returns:
        An `AblationEstimate`; `describe()` says it in a few lines.
    """
    fills = available_baselines()
    names = list(fills) if baselines is None else list(baselines)
    unknown = [n for n in names if n not in fills]
    if unknown:
        raise ValueError(f"unknown classical fill(s) {unknown}; available here: {list(fills)}")
    step_seconds, runs_left, steps = {}, {}, {}
    train = 0.0
    for task, arms in TASKS.items():
        steps[task] = settings.steps if task == "inpainting" else settings.seg_steps
        data, _ = arm_data(settings, task, settings.seeds[0])
        n = settings.batch_size if task == "inpainting" else settings.seg_batch_size
        batch = _batch(data, 0, n)  # the first read also decodes the sample photos, once per process
        start = time.perf_counter()
        _batch(data, n, n)
        load = time.perf_counter() - start  # reading one batch, as each step does (no DataLoader workers here)
        for arm in arms:
            step = _step_seconds(settings, task, arm, batch) + load
            left = _runs_left(settings, task, arm, root)
            step_seconds[(task, arm)], runs_left[(task, arm)] = step, left
            # per run: its steps, one validation (2 batches), one sample grid, two checkpoints (last, best)
            events = 2 * GUESS["validation_batch"] * step + GUESS["samples_s"] + 2 * GUESS["checkpoint_s"]
            train += left * (steps[task] * step + events)
    pairs = 6 * settings.per_bin  # the test set: per_bin masks in each of the paper's six bins
    image = torch.rand(1, 3, settings.size, settings.size, generator=torch.Generator().manual_seed(0))
    mask = torch.ones(1, 1, settings.size, settings.size)
    quarter = settings.size // 4
    mask[..., quarter : 3 * quarter, quarter : 3 * quarter] = 0  # a 25 % hole, the middle of the bins
    fill_seconds = {}
    for name in names:
        start = time.perf_counter()
        fills[name](image, mask)
        fill_seconds[name] = (time.perf_counter() - start) * pairs
    # scoring the networks: a forward pass per test image and seed, and three more for the hole values
    forward = sum(step_seconds[("inpainting", arm)] for arm in TASKS["inpainting"]) / 3  # about a third of a step
    per_image = forward / settings.batch_size
    eval_seconds = sum(fill_seconds.values()) + 4 * len(settings.seeds) * pairs * per_image
    return AblationEstimate(step_seconds, runs_left, steps, fill_seconds, train, eval_seconds)
