"""TrainConfig: every setting of a training run, saved as a plain dict inside each checkpoint.

Defaults follow the paper's schedule for partial-convolution inpainting (Liu et al.
2018, Sec. 5.1): Adam at lr 2e-4, then fine-tuning at lr 5e-5 with the encoder's
batch norm frozen for the last `finetune_steps` of the `steps` in total.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["TrainConfig"]


@dataclass
class TrainConfig:
    """Everything that defines a run; saved (as `to_dict()`) inside every checkpoint.

    `steps` is the total number of optimizer steps, fine-tuning included. `amp=None`
    means on for CUDA (bf16 where supported, else fp16 with a GradScaler), off elsewhere.
    `num_workers=None` picks `pconv.data.default_num_workers()`. `out=None` makes a new
    folder under `$PCONV_OUTPUT_DIR/runs/`. `schedule` is "constant" or "cosine" (decay to
    lr / 10 over the main phase), after `warmup_steps` of linear warm-up.
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
        if self.steps < 1 or self.batch_size < 1:
            raise ValueError(f"steps and batch_size must be >= 1, got {self.steps} and {self.batch_size}")
        if not 0 <= self.finetune_steps <= self.steps:
            raise ValueError(f"finetune_steps must be in [0, steps={self.steps}], got {self.finetune_steps}")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule must be 'constant' or 'cosine', got {self.schedule!r}")
        for name in ("log_every", "val_every", "sample_every", "checkpoint_every", "keep_last", "max_bad_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.out is not None:
            self.out = str(self.out)
        if not isinstance(self.size, int):  # a (H, W) pair is stored as a plain list (weights_only-safe)
            size = [int(v) for v in self.size]
            if len(size) != 2 or min(size) < 1:
                raise ValueError(f"size must be an int or a pair [H, W] of positive ints, got {self.size!r}")
            self.size = size

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types only, so `torch.load(weights_only=True)` can read it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """The inverse of `to_dict`; unknown keys (e.g. "model", "task") are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

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
