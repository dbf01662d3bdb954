"""What makes a checkpoint good: its fields are there, of their types, and its weights are finite.

One check, used wherever a checkpoint is taken up: `pconv.train.checkpoint.load_checkpoint`
(`evaluate`, the studio, `load_pretrained` of a pconv file), resuming a run (which also
needs the optimizer state and the RNG streams) and the run listing of `pconv.train.runs`. A
checkpoint that fails is described by one reason, so that a resume can say which file it
skipped and why. The fields are those `pconv.train.trainer.Trainer` writes (see the header of
`pconv.train.checkpoint`); only `step` and `model` are required, except for a resume.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from pconv.train.config import TrainConfig
from pconv.train.rng import rng_problem

__all__ = ["checkpoint_problem", "non_finite_tensor"]

_RESUME = ("optimizer", "rng")  # what a resume needs besides the weights


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _plain(v: Any, depth: int = 0) -> bool:
    """None, bool, int, float, str, or lists and str-keyed dicts of them (what a config may hold)."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return True
    if depth > 8:
        return False
    if isinstance(v, (list, tuple)):
        return all(_plain(x, depth + 1) for x in v)
    return isinstance(v, dict) and all(isinstance(k, str) and _plain(x, depth + 1) for k, x in v.items())


def non_finite_tensor(tensors: Mapping[Any, Any]) -> str | None:
    """The name of the first floating-point tensor in `tensors` (nested dicts too) holding inf or NaN; else None."""
    for name, t in tensors.items():
        if isinstance(t, Mapping):
            inner = non_finite_tensor(t)
            if inner is not None:
                return f"{name}.{inner}"
        elif isinstance(t, torch.Tensor) and t.is_floating_point() and t.numel() and not bool(t.isfinite().all()):
            return str(name)
    return None


def _config_problem(config: Any) -> str | None:
    if not isinstance(config, dict) or not _plain(config):
        return f"its config is not a dict of plain values (got {type(config).__name__})"
    model = config.get("model")
    if model is not None:
        if not (isinstance(model, dict) and isinstance(model.get("name"), str)):
            return f"its config's model is not {{'name': str, 'kwargs': dict}} (got {model!r:.80})"
        if not isinstance(model.get("kwargs", {}), dict):
            return f"its config's model kwargs are not a dict (got {model.get('kwargs')!r:.80})"
    if not isinstance(config.get("task", ""), str):
        return f"its config's task is not a name (got {config.get('task')!r:.80})"
    try:
        TrainConfig.from_dict(config)  # each training setting of its type and range
    except (TypeError, ValueError) as e:  # ConfigError is a ValueError
        return f"its config holds a bad setting ({e})"
    return None


def _history_problem(history: Any) -> str | None:
    if not isinstance(history, list):
        return f"its history is not a list of rows (got {type(history).__name__})"
    for row in history:
        if not (isinstance(row, dict) and _count(row.get("step")) and _plain(row)):
            return f"its history holds a row that is not a dict with an int step (got {row!r:.80})"
    return None


def _best_problem(best: Any) -> str | None:
    if best is None:
        return None
    ok = isinstance(best, dict) and isinstance(best.get("metric", ""), str)
    ok = ok and (best.get("value") is None or _number(best.get("value")))
    if not (ok and (best.get("step") is None or _count(best.get("step")))):
        return f"its best is not {{'metric': str, 'value': number, 'step': int}} or None (got {best!r:.80})"
    return None


def _optimizer_problem(opt: Any) -> str | None:
    if not (isinstance(opt, dict) and isinstance(opt.get("state"), dict) and isinstance(opt.get("param_groups"), list)):
        return "its optimizer is not an optimizer state dict ({'state': dict, 'param_groups': list})"
    if not all(isinstance(g, dict) for g in opt["param_groups"]):
        return "its optimizer's param_groups are not dicts"
    if not all(isinstance(s, dict) for s in opt["state"].values()):
        return "its optimizer's state is not a dict of dicts"
    bad = non_finite_tensor(opt["state"])
    return f"its optimizer state is not finite ({bad} holds inf or NaN)" if bad else None


def checkpoint_problem(ckpt: Any, resume: bool = False) -> str | None:
    """Why `ckpt` (a loaded checkpoint) cannot be used; None when it is good.

    Good: a dict whose `step` is an int >= 0 and whose `model` maps names to finite tensors;
    each optional field, when there, of its type: `optimizer` and `scaler` state dicts
    (the optimizer's tensors finite), `config` a dict of plain values that `TrainConfig`
    accepts, `rng` as `pconv.train.rng.capture_rng` writes it, `history` a list of dicts with an
    int step, `best` a dict or None, `skipped_steps` an int >= 0.

    Args:
        ckpt: what `torch.load` returned.
        resume: also require what a resume restores (optimizer state, RNG streams).

    Returns:
        One reason, phrased to follow "the checkpoint cannot be used: ", or None.
    """
    if not isinstance(ckpt, dict):
        return f"it holds a {type(ckpt).__name__}, not a checkpoint dict"
    if not _count(ckpt.get("step")):
        return f"its step is {ckpt.get('step')!r:.40}, not an int >= 0"
    model = ckpt.get("model")
    if not (isinstance(model, dict) and all(isinstance(k, str) and torch.is_tensor(v) for k, v in model.items())):
        return "its model is not a state dict (parameter names -> tensors)"
    bad = non_finite_tensor(model)
    if bad is not None:
        return f"its weights are not finite ({bad} holds inf or NaN)"
    missing = [k for k in _RESUME if k not in ckpt] if resume else []
    if missing:
        return f"it holds no {' and no '.join(missing)} to resume from (it is not a training checkpoint)"
    checks = {
        "config": _config_problem,
        "history": _history_problem,
        "best": _best_problem,
        "optimizer": _optimizer_problem,
        "rng": lambda v: rng_problem(v) and f"its RNG state is malformed ({rng_problem(v)})",
        "scaler": lambda v: None if isinstance(v, dict) and _plain(v) else "its scaler is not a state dict",
        "skipped_steps": lambda v: None if _count(v) else f"its skipped_steps is {v!r:.40}, not an int >= 0",
    }
    for key, check in checks.items():
        if key in ckpt and (problem := check(ckpt[key])):
            return problem
    return None
