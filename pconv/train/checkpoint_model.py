"""The model inside a checkpoint: the record that names it, rebuilding it, and how it differs from another.

A checkpoint records its network as `config["model"] = {"name": class name, "kwargs":
constructor arguments}` (`model_info`), so that `model_from_checkpoint` can rebuild it from
`pconv.nn.MODELS` without unpickling any class; checkpoints of classes that have changed
since they were written are translated first (`pconv.nn.upgrade_model_info`, the fixtures of
tests/fixtures/checkpoints/). `describe_model_mismatch` says how a checkpoint's model differs
from the one a resume built, as the `train` flags that would rebuild it.
"""

from __future__ import annotations

import inspect
import logging
import os
from typing import Any

import torch
from torch import nn

from pconv.nn import MODELS, upgrade_model_info
from pconv.train.checkpoint import CheckpointError, load_checkpoint
from pconv.train.checkpoint_checks import checkpoint_problem

__all__ = ["model_info", "model_from_checkpoint", "describe_model_mismatch", "changes_the_arm"]

log = logging.getLogger("pconv.train.trainer")


def model_info(model: nn.Module) -> dict[str, Any]:
    """The record of `model` that a checkpoint keeps, so that `model_from_checkpoint` can rebuild it.

    Args:
        model: a network whose `config` dict holds its constructor arguments (PConvUNet, UNet).

    Returns:
        {"name": class name, "kwargs": model.config}, tuples as lists (what weights_only loading reads).
    """
    kwargs = getattr(model, "config", None)
    if not isinstance(kwargs, dict):
        log.warning(
            "%s has no `config` dict of its constructor arguments; checkpoints will record none, so "
            "model_from_checkpoint can rebuild it only with default arguments",
            type(model).__name__,
        )
        kwargs = {}
    kwargs = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    return {"name": type(model).__name__, "kwargs": kwargs}


def model_from_checkpoint(ckpt: dict[str, Any] | str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild the `pconv.nn.MODELS` network of a checkpoint and load its weights (eval mode).

    The model is first built on the meta device (no memory) and its tensor shapes compared
    with the checkpoint's, so settings that do not fit the weights (say 60000 channels)
    are refused before anything is allocated.

    Args:
        ckpt: a checkpoint dict (as `load_checkpoint` returns it) or the path of one.
        device: where the model goes.

    Returns:
        The model, in eval mode, on `device`.

    Raises:
        CheckpointError: the checkpoint fails `pconv.train.checkpoint_checks` (non-finite weights, a
            malformed config), names no known model, or its weights do not fit it.
    """
    where = ""
    if not isinstance(ckpt, dict):
        where = f"{ckpt}: "
        ckpt = load_checkpoint(ckpt)
    elif problem := checkpoint_problem(ckpt):
        raise CheckpointError(f"the checkpoint cannot be used: {problem}")
    try:  # checkpoints of classes that have changed since they were written
        name, kwargs, state = upgrade_model_info((ckpt.get("config") or {}).get("model") or {}, ckpt["model"])
    except ValueError as e:
        raise CheckpointError(f"{where}{e}") from None
    cls = MODELS.get(str(name))
    if cls is None:
        raise CheckpointError(f"{where}checkpoint names no pconv network (model: {name}; known: {', '.join(MODELS)})")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
    try:
        with torch.device("meta"):  # shapes only: nothing allocated yet
            shapes = {k: tuple(v.shape) for k, v in cls(**kwargs).state_dict().items()}
        saved = {k: tuple(v.shape) for k, v in state.items()}
        if shapes != saved:
            diff = sorted(k for k in set(shapes) | set(saved) if shapes.get(k) != saved.get(k))
            raise RuntimeError(
                f"{len(diff)} tensor(s) differ, e.g. {diff[0]}: the model has {shapes.get(diff[0])}, "
                f"the file {saved.get(diff[0])}"
            )
        model = cls(**kwargs)
        model.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as e:  # the file's settings or weights, not a bug here
        first = str(e).strip().splitlines()
        raise CheckpointError(
            f"{where}cannot rebuild {cls.__name__}(**{kwargs}) from the checkpoint: {' '.join(first[:2])[:300]}"
        ) from e
    return model.to(device).eval()


def _flag(key: str, value: Any) -> str:
    """The `train` flag that sets `key` to `value`: `--layers 5`, `--mask-channel`, `--no-mask-channel`."""
    flag = key.replace("_", "-")
    if isinstance(value, bool):
        return f"--{flag}" if value else f"--no-{flag}"
    return f"--{flag} {value}"


def _defaults(name: str) -> dict[str, Any]:
    """The constructor defaults of network class `name` (empty for a name `MODELS` does not hold)."""
    cls = MODELS.get(name)
    if cls is None:
        return {}
    params = inspect.signature(cls).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def describe_model_mismatch(saved: dict[str, Any], now: dict[str, Any]) -> str | None:
    """How a checkpoint's model ({"name", "kwargs"} of `model_info`) differs from `now`'s; None if it does not.

    Names the checkpoint's settings as keyword arguments and as `train` flags
    (`layers` is `--layers`), so the message says what to pass to use the checkpoint. An
    argument a checkpoint does not record (it was written before the argument existed) counts
    as the class's default, which is what such a checkpoint was built with.

    Args:
        saved: the checkpoint's {"name", "kwargs"}; one without a name is never a mismatch.
        now: the {"name", "kwargs"} of the model built now.

    Returns:
        One sentence, or None when both name the same class with the same arguments.
    """
    if not saved.get("name"):
        return None  # written without model information: nothing to compare
    if saved["name"] != now.get("name"):
        args = ", ".join(f"{k}={v!r}" for k, v in (saved.get("kwargs") or {}).items())
        return f"the checkpoint holds a {saved['name']}({args}), not a {now.get('name')}"
    defaults = _defaults(saved["name"])
    a = {**defaults, **(saved.get("kwargs") or {})}
    b = {**defaults, **(now.get("kwargs") or {})}
    diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if not diff:
        return None
    was = ", ".join(f"{k}={a.get(k)!r} (now {b.get(k)!r})" for k in diff)
    flags = " ".join(_flag(k, a[k]) for k in diff if k in a)
    return f"the checkpoint was built as {saved['name']}({was}); build the model that way (flags: {flags}) to use it"


def changes_the_arm(saved: dict[str, Any], now: dict[str, Any]) -> bool:
    """Whether `now` computes something else than the checkpoint's network with the same weights.

    The convolution kind (`conv`: partial, plain, gated) and the U-Net's `padding` leave the
    weights' shapes unchanged, so a mismatch there would load and silently train another
    network (another arm of an ablation): a resume refuses it instead of warning.
    """
    if saved.get("name") != now.get("name"):
        return False  # the state dict does not fit: load_state_dict says so
    defaults = _defaults(saved["name"])
    a = {**defaults, **(saved.get("kwargs") or {})}
    b = {**defaults, **(now.get("kwargs") or {})}
    return any(a.get(k) != b.get(k) for k in ("conv", "padding") if k in defaults)
