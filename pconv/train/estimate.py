"""Before a run gets going: what is being trained, then how long it will take, timed on its first steps.

`Trainer.fit` says two things through `announce` (the CLI's log, a notebook cell's output):

    Training PConvUNet(layers=6, base_channels=32; 11.2M parameters) on cpu (2 threads):
        3000 steps of batch 8 at 128x128, AMP off
    ~0.42 s/step measured on steps 2-6: about 21 min for the remaining 2994 steps, with 12
        validations and 12 sample grids (finishing around 17:05)

The first step (two with `torch.compile`) is not timed: it allocates, warms up and compiles.
The next `MEASURE` steps are. Five steps are a short sample: a moment when another job holds a
core skews it (notebook 03 once said about 9 min for 4). So the timer looks again once a tenth of
the rest has run, or `REVIEW_S` seconds (at least `REVIEW_MIN` steps) after the first estimate,
timing the steps since it; when that moves the finishing time by more than a fifth of what is
left, it says the new estimate:

    ~0.15 s/step measured on steps 7-156: about 4 min for the remaining 1344 steps, with 6
        validations and 6 sample grids (finishing around 18:24, not 18:28 as first estimated)

Validations, sample grids and checkpoints are timed apart from the steps wherever they happen;
those not seen yet are guessed from the step time (`GUESS`), and the events still due are added
to the estimate. What callbacks do at logging steps (`LivePlot` redraws its curves) counts only
when such a step is measured: in notebook 03 on a CPU the first estimate once came out 10-20 %
short for that reason (about 6 min said, 6 min 41 s taken).
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch

__all__ = ["Estimate", "StepTimer", "announce", "describe_run", "image_size", "clock"]

log = logging.getLogger("pconv.train.trainer")

clock = time.perf_counter  # the trainer's time source (a test replaces it with a fake clock)
MEASURE = 5  # steps timed for the estimate, after the untimed warm-up step(s)
REVIEW_MIN, REVIEW_S = 20, 120.0  # the second look: at least this many steps, and by this many seconds
# Guesses for events not timed yet, from PConvUNets of 1-11M parameters on one CPU core: a validation
# batch (forward pass and metrics) took 0.4 of a training step; a sample grid 0.7-1.3 s, mostly
# matplotlib drawing and PNG writing; a checkpoint 0.03-0.26 s.
GUESS = {"validation_batch": 0.4, "samples_s": 1.0, "checkpoint_s": 0.2}


def announce(text: str, progress: bool) -> None:
    """Say `text` once: into the log where INFO lines are shown (the CLI), else printed when `progress` is on.

    Printed with `tqdm.write`, so a progress bar in a terminal stays whole; in a notebook it
    lands in the cell's output. With neither (the training panel) it goes to the log only.
    """
    if (log.isEnabledFor(logging.INFO) and log.hasHandlers()) or not progress:
        log.info(text)
    else:
        from tqdm.auto import tqdm

        tqdm.write(text)


def _count(n: float) -> str:
    return f"{n / 1e6:.1f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e3 else str(int(n))


def _model(model: torch.nn.Module, info: dict[str, Any]) -> str:
    """`Name(kwargs that differ from the constructor's defaults; N parameters)`."""
    try:
        defaults = {k: p.default for k, p in inspect.signature(type(model)).parameters.items()}
    except (TypeError, ValueError):
        defaults = {}
    norm = lambda v: list(v) if isinstance(v, tuple) else v  # noqa: E731  (model_info stores tuples as lists)
    given = {k: v for k, v in (info.get("kwargs") or {}).items() if k not in defaults or norm(defaults[k]) != v}
    args = ", ".join(f"{k}={v!r}" for k, v in given.items())
    n = sum(p.numel() for p in model.parameters())
    return f"{info.get('name') or type(model).__name__}({args}{'; ' if args else ''}{_count(n)} parameters)"


def _device(device: torch.device) -> str:
    if device.type == "cpu":
        return f"cpu ({_many(torch.get_num_threads(), 'thread')})"
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


def describe_run(trainer: Any, size: tuple[int, int] | None = None) -> str:
    """The start line of `trainer.fit`: model, parameters, device, steps to run, batch, size, AMP.

    Args:
        trainer: a `pconv.train.trainer.Trainer` at the step it starts (or resumes) from.
        size: (H, W) of the images when known (from the first batch), else `config.size` is named.
    """
    cfg, step, engine = trainer.config, trainer.step, trainer.engine
    todo = max(0, cfg.steps - step)
    steps = f"{todo} steps" if step == 0 else f"{todo} steps ({step + 1}-{cfg.steps}, resumed at step {step})"
    if todo == 0:
        steps = f"nothing to train (at step {step} of {cfg.steps})"
    h, w = size or ((cfg.size, cfg.size) if isinstance(cfg.size, int) else tuple(cfg.size))
    batch = f"batch {cfg.batch_size}" + (f" per process x {trainer.world} processes" if trainer.world > 1 else "")
    amp = f"AMP {'bf16' if engine.amp_dtype == torch.bfloat16 else 'fp16'}" if engine.amp else "AMP off"
    extras = "".join([", compiled" if cfg.compile else "", ", channels-last" if cfg.channels_last else ""])
    if cfg.finetune_steps:
        extras += f"; fine-tuning from step {cfg.steps - cfg.finetune_steps + 1}"
    model = _model(trainer.model, engine.model_info)
    return f"Training {model} on {_device(trainer.device)}: {steps} of {batch} at {h}x{w}, {amp}{extras}"


def image_size(batch: Any) -> tuple[int, int] | None:
    """(H, W) of a batch's images (a dict with "image" or an (image, mask) pair); None when unknown."""
    image = batch.get("image") if isinstance(batch, dict) else batch[0] if isinstance(batch, (list, tuple)) else None
    return tuple(image.shape[-2:]) if isinstance(image, torch.Tensor) and image.dim() >= 3 else None


def _many(n: int, thing: str) -> str:
    return f"{n} {thing}{'' if n == 1 else 's'}"


def _duration(s: float) -> str:
    if s < 90:
        return f"{s:.0f} s"
    return f"{s / 60:.0f} min" if s < 90 * 60 else f"{s / 3600:.1f} h"


def _wall(t: float, within: float) -> str:
    """The wall-clock time `t` as HH:MM, with the weekday when the run has most of a day or more to go."""
    return time.strftime("%H:%M" if within < 20 * 3600 else "%a %H:%M", time.localtime(t))


def _due(every: int, after: int, last: int) -> int:
    """How many of the steps after..last are multiples of `every`."""
    return last // every - after // every


@dataclass(frozen=True)
class Estimate:
    """The time a run still needs, measured on its first steps.

    Attributes:
        seconds_per_step: mean time of the measured steps (events excluded), in seconds.
        measured: (first, last) step measured, 1-based.
        remaining_steps: steps after the measured ones.
        events: {"validation" | "sample grid" | "checkpoint": how many are still due}.
        seconds: the estimated time for the remaining steps and events.
        finish: when that time is up, on `clock`'s scale.
        finish_wall: the same as a Unix time (`time.time()`), for the clock on the wall.
        revised_from: the first estimate's `finish_wall` when this one revises it, else None.
    """

    seconds_per_step: float
    measured: tuple[int, int]
    remaining_steps: int
    events: dict[str, int]
    seconds: float
    finish: float
    finish_wall: float
    revised_from: float | None = None

    def line(self) -> str:
        """`~0.42 s/step measured on steps 2-6: about 21 min for the remaining 2994 steps, with ... (finishing ...)`."""
        s = self.seconds_per_step
        rate = f"{s:.2g}" if s < 10 else f"{s:.0f}"
        shown = [_many(n, k) for k, n in self.events.items() if n and k != "checkpoint"]  # checkpoints are cheap
        with_ = ", with " + " and ".join(shown) if shown else ""
        at = _wall(self.finish_wall, self.seconds)
        if self.revised_from is not None:
            at += f", not {_wall(self.revised_from, self.seconds)} as first estimated"
        return (
            f"~{rate} s/step measured on steps {self.measured[0]}-{self.measured[1]}: about {_duration(self.seconds)} "
            f"for the remaining {_many(self.remaining_steps, 'step')}{with_} (finishing around {at})"
        )

    def left(self) -> str:
        """`about 12 min left`, counted down from `finish`."""
        return f"about {_duration(max(0.0, self.finish - clock()))} left"


class StepTimer:
    """Times each step of one `fit` apart from its events, and says what is trained and how long it will take.

    Args:
        trainer: the `pconv.train.trainer.Trainer`, at the step it starts (or resumes) from.
        val_loader: the validation batches (None: no validation).
        sample_batch: the batch of the sample grids (None: none are drawn; also on ranks > 0).
        progress: whether a progress bar is shown (`announce` prints then).
    """

    def __init__(self, trainer: Any, val_loader: Any, sample_batch: Any, progress: bool):
        self.trainer, self.config, self.progress = trainer, trainer.config, progress
        self.size, self.samples = image_size(sample_batch), sample_batch is not None
        self.val_batches = 0 if val_loader is None else self.config.val_batches
        if val_loader is not None and hasattr(val_loader, "__len__"):
            self.val_batches = min(self.val_batches, len(val_loader))
        self.skip = 2 if self.config.compile else 1
        self.first = trainer.step + self.skip + 1
        self.last = trainer.step + self.skip + MEASURE
        self.costs: dict[str, list[float]] = {}
        self.step_seconds: list[float] = []  # the measured steps': the first estimate's, then the second look's
        self.first_estimate: Estimate | None = None
        self.looked_again = False  # the second look is the last
        self._t = self._events = 0.0

    def start(self) -> None:
        """Say what is trained (on rank 0); the steps begin now."""
        if self.trainer.rank == 0:
            announce(describe_run(self.trainer, self.size), self.progress)
        self._t, self._events = clock(), 0.0

    @contextmanager
    def event(self, kind: str) -> Iterator[None]:
        """Time the work inside as an event of `kind` ("validation", "samples", "checkpoint"), not as step time."""
        t = clock()
        try:
            yield
        finally:
            took = clock() - t
            self._events += took
            self.costs.setdefault(kind, []).append(took)

    def step_done(self, step: int) -> Estimate | None:
        """Step `step` (1-based) is over, events included; after the last measured step, say the `Estimate`.

        Returns:
            That `Estimate`, and the second look's (said only when it moves the finish); None at
            every other step, and when no steps are left after the measured ones.
        """
        now = clock()
        took, self._t, self._events = now - self._t - self._events, now, 0.0
        if step >= self.config.steps:
            return None
        if self.first_estimate is not None:
            return None if self.looked_again else self._review(self.first_estimate, step, now, took)
        if self.first <= step:
            self.step_seconds.append(took)
        if step != self.last:
            return None
        self.first_estimate = estimate = self.estimate(step, now, self.first)
        self.step_seconds = []
        if self.trainer.rank == 0:
            announce(estimate.line(), self.progress)
        return estimate

    def _review(self, first: Estimate, step: int, now: float, took: float) -> Estimate | None:
        """The second look, once: an `Estimate` from the steps since the first; said when it moves the finish."""
        self.step_seconds.append(took)
        n, since_first = len(self.step_seconds), now - (first.finish - first.seconds)
        if n < REVIEW_MIN or (n < first.remaining_steps // 10 and since_first < REVIEW_S):
            return None
        again = self.estimate(step, now, self.last + 1)
        self.looked_again = True
        moved = abs(again.seconds - (first.finish - now)) > 0.2 * again.seconds
        if moved and _wall(again.finish_wall, again.seconds) != _wall(first.finish_wall, again.seconds):
            again = replace(again, revised_from=first.finish_wall)
            if self.trainer.rank == 0:
                announce(again.line(), self.progress)
        return again  # said or not, the countdown (`Estimate.left`) goes on from the newer figure

    def estimate(self, step: int, now: float, since: int) -> Estimate:
        """The time the steps after `step` need, with the validations, sample grids and checkpoints still due.

        The step time is the mean of `step_seconds`, the steps `since`..`step`.
        """
        cfg, per_step = self.config, sum(self.step_seconds) / len(self.step_seconds)
        guess = {
            "validation": GUESS["validation_batch"] * self.val_batches * per_step,
            "samples": GUESS["samples_s"] + GUESS["validation_batch"] * per_step,
            "checkpoint": GUESS["checkpoint_s"],
        }
        cost = {k: sum(self.costs[k]) / len(self.costs[k]) if self.costs.get(k) else g for k, g in guess.items()}
        end = cfg.steps
        val = _due(cfg.val_every, step, end) + (end % cfg.val_every != 0) if self.val_batches else 0
        samples = _due(cfg.sample_every, step, end) + (end % cfg.sample_every != 0) if self.samples else 0
        ckpt = _due(cfg.checkpoint_every, step, end)
        if self.val_batches:  # a new best also saves: count the validation steps that are not checkpoint steps
            lcm = cfg.val_every * cfg.checkpoint_every // math.gcd(cfg.val_every, cfg.checkpoint_every)
            ckpt += _due(cfg.val_every, step, end) - _due(lcm, step, end)
        ckpt += end % cfg.checkpoint_every != 0 and not (self.val_batches and end % cfg.val_every == 0)
        events = {"validation": val, "sample grid": samples, "checkpoint": int(ckpt)}
        left = end - step
        seconds = left * per_step + val * cost["validation"] + samples * cost["samples"] + ckpt * cost["checkpoint"]
        return Estimate(per_step, (since, step), left, events, seconds, now + seconds, time.time() + seconds)
