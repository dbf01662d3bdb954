"""Checkpoints: atomic writes, safe loading, the run folder's file list, rebuilding the model.

A checkpoint is a plain dict that `torch.load(path, weights_only=True)` can read:
tensors, numbers, strings, lists and dicts only (no pickled classes, no numpy
arrays). Keys written by `pconv.train.Trainer`:

    step       int, training steps completed
    model      the model's state_dict (unwrapped from DDP / torch.compile)
    optimizer  the optimizer's state_dict
    scaler     the AMP GradScaler's state_dict ({} when no scaler is used)
    config     TrainConfig.to_dict() plus "model": {"name", "kwargs"} and "task"
    rng        {"torch", "numpy", "python", "cuda"}: the RNG streams (`pconv.rng.capture_rng`)
    best       {"metric", "value", "step"} of the best validation so far
    history    the training history up to `step` (list of plain dicts)

Files are written to a temporary file in the same folder, fsync-ed and renamed
over the target (`os.replace` is atomic on POSIX and Windows), so a crash or a
full disk mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "list_checkpoints",
    "load_latest",
    "prune_checkpoints",
    "model_info",
    "model_from_checkpoint",
]

log = logging.getLogger("pconv.train")
_CKPT_RE = re.compile(r"^ckpt_(\d+)\.pt$")
_REQUIRED = ("step", "model")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt or not a pconv checkpoint."""


def save_checkpoint(ckpt: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write `ckpt` to `path` atomically (temporary file, fsync, rename).

    On any error the temporary file is removed and an existing `path` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(ckpt, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable; not possible on every platform
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by the trainer with `torch.load(weights_only=True)`.

    Args:
        path: a `.pt` file written by `pconv.train.Trainer`.
        map_location: where tensors land (default CPU).

    Returns:
        The checkpoint dict: `ckpt["step"]`, `ckpt["model"]`, `ckpt["config"]`, ...

    Raises:
        CheckpointError: the file is missing, truncated or corrupt, or is not a pconv checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (expected a ckpt_<step>.pt file from a training run)")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # zip errors, EOF, unpickling errors all mean "not readable"
        raise CheckpointError(
            f"checkpoint {path} is corrupt or truncated and cannot be read ({type(e).__name__}: {e}); "
            "use an earlier ckpt_<step>.pt from the same folder"
        ) from e
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in _REQUIRED):
        raise CheckpointError(f"{path} is not a pconv checkpoint (expected a dict with keys {list(_REQUIRED)})")
    return ckpt


def list_checkpoints(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """The `ckpt_<step>.pt` files in `folder` as (step, path), oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CKPT_RE.match(p.name))]
    return sorted(found)


def load_latest(
    folder: str | os.PathLike, path: str | os.PathLike | None = None, warn: Callable[[str], None] = log.warning
) -> tuple[Path, dict[str, Any]] | None:
    """The newest readable checkpoint in `folder` (or `path`), skipping unreadable ones with a warning.

    Candidates: `path` if given, else `ckpt_<step>.pt` newest first, then `best.pt`.

    Returns:
        (path, checkpoint), or None when there is no candidate at all.

    Raises:
        CheckpointError: there are candidates but none can be read (lists each reason).
    """
    folder = Path(folder)
    candidates = [Path(path)] if path is not None else [p for _, p in reversed(list_checkpoints(folder))]
    if path is None and (folder / "best.pt").is_file():
        candidates.append(folder / "best.pt")
    errors = []
    for candidate in candidates:
        try:
            return candidate, load_checkpoint(candidate)
        except CheckpointError as e:
            errors.append(str(e))
            warn(f"{e}; trying an older checkpoint" if candidate != candidates[-1] else str(e))
    if errors:
        raise CheckpointError("no readable checkpoint to resume from: " + "; ".join(errors))
    return None


def prune_checkpoints(folder: str | os.PathLike, keep_last: int) -> list[Path]:
    """Delete all but the newest `keep_last` (at least 1) `ckpt_<step>.pt` files; `best.pt` is kept.

    Returns:
        The deleted paths.
    """
    ckpts = list_checkpoints(folder)
    doomed = [p for _, p in ckpts[: max(0, len(ckpts) - max(1, keep_last))]]
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed


def model_info(model: nn.Module) -> dict[str, Any]:
    """{"name": class name, "kwargs": model.config} so a checkpoint can rebuild its model."""
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
    """Rebuild a `pconv.models` network from a checkpoint and load its weights (eval mode).

    Raises:
        CheckpointError: the checkpoint names no known model or its weights do not fit it.
    """
    where = ""
    if not isinstance(ckpt, dict):
        where = f"{ckpt}: "
        ckpt = load_checkpoint(ckpt)
    from . import models  # imported here: the trainer must not depend on the model zoo

    info = (ckpt.get("config") or {}).get("model") or {}
    cls = getattr(models, str(info.get("name")), None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise CheckpointError(f"{where}checkpoint does not name a pconv.models class (model info: {info})")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in (info.get("kwargs") or {}).items()}
    try:
        model = cls(**kwargs)
        model.load_state_dict(ckpt["model"])
    except (TypeError, RuntimeError) as e:
        first = str(e).strip().splitlines()
        raise CheckpointError(
            f"{where}cannot rebuild {cls.__name__}(**{kwargs}) from the checkpoint: {' '.join(first[:2])[:300]}"
        ) from e
    return model.to(device).eval()
