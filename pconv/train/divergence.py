"""A run that went non-finite: `TrainingDivergedError` and what its message advises.

`pconv.train.engine.Engine.step` skips a step whose loss (or gradient norm) is not finite.
`pconv.train.trainer.Trainer` stops the run when `max_bad_steps` such steps come in a row,
or as soon as the weights themselves are no longer finite, and never saves such weights.
The message names the last good checkpoint and the usual cures, as `train` flags: a lower
lr, gradient clipping, AMP off, then `--resume`.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["TrainingDivergedError", "non_finite_losses", "non_finite_weights"]


class TrainingDivergedError(RuntimeError):
    """Non-finite losses `max_bad_steps` times in a row, or non-finite weights; names the last good checkpoint."""


def non_finite_losses(step: int, n: int, max_bad_steps: int, last_good: Path) -> TrainingDivergedError:
    """The error for `n` non-finite losses in a row, ending at `step`.

    Args:
        step: the step the run stopped at.
        n: how many steps in a row had a non-finite loss.
        max_bad_steps: the run's limit (`--max-bad-steps`).
        last_good: the checkpoint just saved with the last good weights.

    Returns:
        The error to raise; its message says how to resume.
    """
    return TrainingDivergedError(
        f"training stopped at step {step}: {n} non-finite losses in a row (max_bad_steps="
        f"{max_bad_steps}, --max-bad-steps). The last good weights are in {last_good}; lower the lr "
        "(--lr), set grad_clip (--grad-clip) or turn AMP off (--no-amp), then resume from it (--resume)."
    )


def non_finite_weights(step: int, last_good: Path | None, lr: float) -> TrainingDivergedError:
    """The error for weights gone inf or NaN at `step`; they are not saved.

    Args:
        step: the step the run stopped at.
        last_good: the run folder's newest checkpoint, or None when there is none yet.
        lr: the run's learning rate, quoted in the advice.

    Returns:
        The error to raise; its message says where to start again from.
    """
    where = f"The last good weights are in {last_good}; resume (--resume)" if last_good else "no checkpoint yet; start"
    return TrainingDivergedError(
        f"training stopped at step {step}: the weights are not finite (inf or NaN), so they were not "
        f"saved. {where} with a lower lr (--lr; it was {lr:g}), grad_clip set (--grad-clip) or "
        "AMP off (--no-amp)."
    )
