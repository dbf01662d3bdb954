"""TrainConfig: every setting of a training run, saved as a plain dict inside each checkpoint.

Defaults follow the paper's schedule for partial-convolution inpainting (Liu et al.
2018, Sec. 5.1): Adam at lr 2e-4, then fine-tuning at lr 5e-5 with the encoder's
batch norm frozen for the last `finetune_steps` of the `steps` in total.
"""

from __future__ import annotations

import logging
import math
import numbers
import os
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["TrainConfig", "ConfigError", "SEED_MAX", "cpu_count"]

log = logging.getLogger("pconv.train.trainer")
SEED_MAX = 2**63 - 1  # torch.manual_seed takes < 2**64; one bit spare for `seed + rank` and `seed + 1`


class ConfigError(ValueError):
    """A TrainConfig setting is out of range; `field` names it (the CLI turns it into its flag)."""

    def __init__(self, field: str, expected: str, value: Any):
        self.field, self.expected, self.value = field, expected, value
        super().__init__(f"TrainConfig.{field} must be {expected}, got {value!r}")


# What each numeric setting must be: (kind, lowest value); None allowed where the default is None.
_COUNTS = {
    "steps": 1,
    "batch_size": 1,
    "log_every": 1,
    "val_every": 1,
    "sample_every": 1,
    "checkpoint_every": 1,
    "keep_last": 1,
    "val_batches": 1,
    "max_bad_steps": 1,
    "num_workers": 0,
    "warmup_steps": 0,
    "seed": 0,  # numpy's SeedSequence takes non-negative seeds only
}
_HIGHEST = {"seed": SEED_MAX}
_RATES = ("lr", "finetune_lr", "grad_clip")  # finite and > 0: an inf or NaN lr fills the weights with NaN


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one, else all)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_rate(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and v > 0


@dataclass
class TrainConfig:
    """Everything that defines a run; saved (as `to_dict()`) inside every checkpoint.

    `steps` is the total number of optimizer steps, fine-tuning included. `amp=None`
    means on for CUDA (bf16 where supported, else fp16 with a GradScaler), off elsewhere.
    `num_workers=None` picks `pconv.data.default_num_workers()`; more than the CPUs this
    process may use (`cpu_count`) are capped to them, with a logged note. `out=None` makes a new
    folder under `$PCONV_OUTPUT_DIR/runs/`. `schedule` is "constant" or "cosine" (decay to
    lr / 10 over the main phase), after `warmup_steps` of linear warm-up, which must fit in
    the main phase (`steps - finetune_steps`). `seed` is in [0, `SEED_MAX`].
    """

    steps: int = 1000
    batch_size: int = 8
    lr: float = 2e-4
    size: int | list[int] = 256  # image side, or [H, W]; recorded so evaluation can rebuild the data
    device: str = "auto"
    amp: bool | None = None
    channels_last: bool = False
    compile: bool = False
    num_workers: int | None = None
    grad_clip: float | None = None
    log_every: int = 10
    val_every: int = 500
    sample_every: int = 500
    checkpoint_every: int = 500
    keep_last: int = 3
    seed: int = 0
    finetune_steps: int = 0
    finetune_lr: float = 5e-5
    schedule: str = "constant"
    warmup_steps: int = 0
    out: str | None = None
    val_batches: int = 10
    max_bad_steps: int = 10
    progress: bool = True

    def __post_init__(self) -> None:
        for name, low in _COUNTS.items():
            value = getattr(self, name)
            if not (value is None and name == "num_workers"):
                high = _HIGHEST.get(name)
                if not _is_int(value) or value < low or (high is not None and value > high):
                    raise ConfigError(name, f"an int >= {low}" if high is None else f"an int in [{low}, {high}]", value)
                setattr(self, name, int(value))  # numpy ints become plain ints (weights_only-safe)
        for name in _RATES:
            value = getattr(self, name)
            if not (value is None and name == "grad_clip"):
                if not _is_rate(value):
                    raise ConfigError(name, "a finite number > 0", value)
                setattr(self, name, float(value))
        if not _is_int(self.finetune_steps) or not 0 <= self.finetune_steps <= self.steps:
            raise ConfigError("finetune_steps", f"an int in [0, steps={self.steps}]", self.finetune_steps)
        main = self.steps - self.finetune_steps
        if self.warmup_steps > main:  # the lr would never reach `lr` (see `lr_at`)
            raise ConfigError("warmup_steps", f"an int in [0, steps - finetune_steps = {main}]", self.warmup_steps)
        cpus = cpu_count()
        if self.num_workers is not None and self.num_workers > cpus:  # more only thrash: each loads whole images
            log.warning("num_workers=%d is more than the %d CPUs here; using %d", self.num_workers, cpus, cpus)
            self.num_workers = cpus
        if self.schedule not in ("constant", "cosine"):
            raise ConfigError("schedule", "'constant' or 'cosine'", self.schedule)
        if self.amp not in (True, False, None):
            raise ConfigError("amp", "True, False or None (None: on for CUDA)", self.amp)
        if not isinstance(self.device, str):
            raise ConfigError("device", "a device name such as 'auto', 'cpu', 'cuda' or 'cuda:1'", self.device)
        if self.out is not None:
            self.out = str(self.out)
        if _is_int(self.size):
            ok = self.size >= 1
        else:  # a (H, W) pair is stored as a plain list (weights_only-safe)
            pair = list(self.size) if isinstance(self.size, (list, tuple)) else []
            ok = len(pair) == 2 and all(_is_int(v) and v >= 1 for v in pair)
        if not ok:
            raise ConfigError("size", "an int or a pair [H, W] of ints >= 1", self.size)
        self.size = int(self.size) if _is_int(self.size) else [int(v) for v in self.size]

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types only, so `torch.load(weights_only=True)` can read it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """The inverse of `to_dict`; unknown keys (e.g. "model", "task") are ignored.

        A saved config is fitted to this machine quietly: `num_workers` to its CPU count, and a
        warm-up longer than the main phase (accepted before these were checked) to that phase.
        """
        names = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if _is_int(kw.get("num_workers")):
            kw["num_workers"] = min(kw["num_workers"], cpu_count())
        steps, finetune, warmup = (kw.get(k) for k in ("steps", "finetune_steps", "warmup_steps"))
        if _is_int(steps) and _is_int(finetune) and _is_int(warmup) and 0 <= finetune <= steps:
            kw["warmup_steps"] = min(warmup, steps - finetune)
        return cls(**kw)

    def changes_since(self, saved: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """{key: (now, then)} for the settings that shape the run's outcome and differ from a saved config."""
        keys = ("batch_size", "lr", "seed", "size", "finetune_steps", "finetune_lr", "schedule")
        return {k: (getattr(self, k), saved[k]) for k in keys if k in saved and saved[k] != getattr(self, k)}

    def lr_at(self, step: int) -> float:
        """Learning rate of step `step` (0-based): warm-up, constant or cosine, then fine-tuning."""
        main = self.steps - self.finetune_steps
        if step >= main:
            return self.finetune_lr
        if step < self.warmup_steps:
            return self.lr * (step + 1) / self.warmup_steps
        if self.schedule == "cosine":
            t = (step - self.warmup_steps) / max(1, main - self.warmup_steps)
            return self.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * t)))
        return self.lr
