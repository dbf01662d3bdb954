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
import pickle
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .utils import fsync_folder

__all__ = [
    "CheckpointError",
    "CheckpointWriteError",
    "save_checkpoint",
    "load_checkpoint",
    "checkpoint_step",
    "peek_checkpoint",
    "list_checkpoints",
    "load_latest",
    "prune_checkpoints",
    "model_info",
    "describe_model_mismatch",
    "model_from_checkpoint",
]

log = logging.getLogger("pconv.train")
_CKPT_RE = re.compile(r"^ckpt_(\d+)\.pt$")
_REQUIRED = ("step", "model")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt or not a pconv checkpoint."""


class CheckpointWriteError(CheckpointError):
    """A checkpoint could not be written (full disk, permissions); the earlier ones are intact."""


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
    fsync_folder(path.parent)  # make the rename itself durable
    return path


def _not_readable(path: Path, e: Exception) -> CheckpointError:
    """A message for a failed `torch.load`, without PyTorch's advice to load with weights_only=False."""
    text = str(e)
    if isinstance(e, pickle.UnpicklingError):
        found = re.search(r"GLOBAL ([\w.]+)", text)
        if found:  # a pickle of Python objects: loading it would mean running what it names
            return CheckpointError(
                f"{path} is not a checkpoint pconv trusts: it refers to the Python object {found.group(1)}, and "
                "pconv only loads plain tensors and values (weights_only=True), never code from a file; "
                "use a ckpt_<step>.pt or best.pt written by `python -m pconv train`"
            )
        return CheckpointError(f"checkpoint {path} is not a PyTorch file, or it is corrupt; it cannot be read")
    first = text.strip().split(". ")[0].splitlines()[0][:200] if text.strip() else ""
    return CheckpointError(
        f"checkpoint {path} is corrupt or truncated and cannot be read ({type(e).__name__}: {first}); "
        "use an earlier ckpt_<step>.pt from the same folder"
    )


def _read(path: Path, map_location: str | torch.device, mmap: bool) -> dict[str, Any]:
    if path.is_dir():
        newest = list_checkpoints(path)
        hint = f"e.g. {newest[-1][1]}" if newest else "it holds no ckpt_<step>.pt files"
        raise CheckpointError(f"{path} is a folder, not a checkpoint file; pass a checkpoint in it ({hint})")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (expected a ckpt_<step>.pt file from a training run)")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        raise _not_readable(path, e) from None  # PyTorch's message would advise weights_only=False
    except Exception as e:  # zip errors, EOF, ...: all mean "not readable"
        raise _not_readable(path, e) from e
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in _REQUIRED):
        raise CheckpointError(f"{path} is not a pconv checkpoint (expected a dict with keys {list(_REQUIRED)})")
    return ckpt


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by the trainer with `torch.load(weights_only=True)`.

    Args:
        path: a `.pt` file written by `pconv.train.Trainer`.
        map_location: where tensors land (default CPU).

    Returns:
        The checkpoint dict: `ckpt["step"]`, `ckpt["model"]`, `ckpt["config"]`, ...

    Raises:
        CheckpointError: the file is missing, a folder, truncated or corrupt, or not a pconv
            checkpoint (a pickle of Python objects is refused, never unpickled).
    """
    return _read(Path(path), map_location, mmap=False)


def peek_checkpoint(path: str | os.PathLike) -> dict[str, Any] | None:
    """A checkpoint's dict with its tensors left on disk (memory-mapped); None if it cannot be read."""
    path = Path(path)
    try:
        try:
            return _read(path, "cpu", mmap=True)
        except CheckpointError:
            return _read(path, "cpu", mmap=False)  # files in PyTorch's legacy format cannot be mapped
    except CheckpointError:
        return None


def checkpoint_step(path: str | os.PathLike) -> int | None:
    """The step recorded inside a checkpoint, read without loading its tensors; None if it cannot be read."""
    ckpt = peek_checkpoint(path)
    step = ckpt["step"] if ckpt is not None else None
    return int(step) if isinstance(step, int) and not isinstance(step, bool) else None


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

    Candidates: `path` if given, else the `ckpt_<step>.pt` files by the step recorded inside
    them, newest first (a file's name can be stale), then `best.pt`.

    Returns:
        (path, checkpoint), or None when there is no candidate at all.

    Raises:
        CheckpointError: there are candidates but none can be read (lists each reason).
    """
    folder = Path(folder)
    if path is not None:
        candidates = [Path(path)]
    else:
        steps = {p: checkpoint_step(p) for _, p in list_checkpoints(folder)}
        readable = sorted((p for p, s in steps.items() if s is not None), key=lambda p: (steps[p], p.name))
        candidates = [p for p, s in steps.items() if s is None] + readable[::-1]  # unreadable: fail and warn first
        if (folder / "best.pt").is_file():
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


def prune_checkpoints(folder: str | os.PathLike, keep_last: int, newest: str | os.PathLike | None = None) -> list[Path]:
    """Delete old `ckpt_<step>.pt` files, by the step recorded inside them, keeping `keep_last` (at least 1).

    Only files that load are candidates: an unreadable file is never deleted (it may be
    a user's, and it is not counted). `newest` (default: the highest recorded step) is
    never deleted, nor any file that records a later step than it. `best.pt` is kept.

    Returns:
        The deleted paths.
    """
    steps = {p: s for _, p in list_checkpoints(folder) if (s := checkpoint_step(p)) is not None}
    if not steps:
        return []
    newest = Path(newest) if newest is not None else max(steps, key=lambda p: steps[p])
    top = steps.get(newest, max(steps.values()))
    older = sorted((p for p, s in steps.items() if s <= top and p != newest), key=lambda p: steps[p], reverse=True)
    doomed = older[max(1, keep_last) - 1 :]
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


def describe_model_mismatch(saved: dict[str, Any], now: dict[str, Any]) -> str | None:
    """How a checkpoint's model ({"name", "kwargs"} of `model_info`) differs from `now`'s; None if it does not.

    Names the checkpoint's settings as keyword arguments and as `train` flags
    (`layers` is `--layers`), so the message says what to pass to use the checkpoint.
    """
    if not saved.get("name"):
        return None  # written without model information: nothing to compare
    a, b = saved.get("kwargs") or {}, now.get("kwargs") or {}
    if saved["name"] != now.get("name"):
        args = ", ".join(f"{k}={v!r}" for k, v in a.items())
        return f"the checkpoint holds a {saved['name']}({args}), not a {now.get('name')}"
    diff = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    if not diff:
        return None
    was = ", ".join(f"{k}={a.get(k)!r} (now {b.get(k)!r})" for k in diff)
    flags = " ".join(f"--{k.replace('_', '-')} {a[k]}" for k in diff if k in a)
    return f"the checkpoint was built as {saved['name']}({was}); build the model that way (flags: {flags}) to use it"


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
