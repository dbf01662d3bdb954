"""Checkpoint files: atomic writes, safe loading, and the newest usable one in a run folder.

A checkpoint is a plain dict that `torch.load(path, weights_only=True)` can read:
tensors, numbers, strings, lists and dicts only (no pickled classes, no numpy
arrays). Keys written by `pconv.train.trainer.Trainer`:

    step       int, training steps completed
    model      the model's state_dict (unwrapped from DDP / torch.compile)
    optimizer  the optimizer's state_dict
    scaler     the AMP GradScaler's state_dict ({} when no scaler is used)
    config     TrainConfig.to_dict() plus "model": {"name", "kwargs"} and "task"
    rng        {"torch", "numpy", "python", "cuda"}: the RNG streams (`pconv.train.rng.capture_rng`)
    best       {"metric", "value", "step"} of the best validation so far
    history    the training history up to `step` (list of plain dicts)

Files are written to a temporary file in the same folder, fsync-ed and renamed
over the target (`os.replace` is atomic on POSIX and Windows), so a crash or a
full disk mid-write leaves the previous checkpoint intact; a full disk is reported as
`pconv.utils.WriteFailedError`. Loading checks what it reads (`pconv.train.checkpoint_checks`): a
checkpoint with non-finite weights or malformed fields is refused with the reason, and
the run folder's newest checkpoint is the newest by the step recorded inside that passes.
Rebuilding the network a checkpoint holds is `pconv.train.checkpoint_model`.
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

from pconv.train.checkpoint_checks import checkpoint_problem
from pconv.utils import WriteFailedError, fsync_folder, writing

__all__ = [
    "CheckpointError",
    "CheckpointWriteError",
    "save_checkpoint",
    "load_checkpoint",
    "checkpoint_step",
    "peek_checkpoint",
    "list_checkpoints",
    "load_latest",
    "newest_good",
]

log = logging.getLogger("pconv.train.trainer")
_CKPT_RE = re.compile(r"^ckpt_(\d+)\.pt$")
_REQUIRED = ("step", "model")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, corrupt or not a pconv checkpoint."""


class CheckpointWriteError(CheckpointError, WriteFailedError):
    """A checkpoint could not be written (full disk, permissions); the earlier ones are intact.

    A `WriteFailedError` too, so callers that handle any failed write handle this one.
    """


def save_checkpoint(ckpt: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write `ckpt` to `path` atomically (temporary file, fsync, rename).

    On any error the temporary file is removed and an existing `path` is left untouched.

    Raises:
        WriteFailedError: a full disk, a quota or permissions (torch.save reports a full
            disk as a RuntimeError; it is turned into this too); names `path`.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with writing(path, "checkpoint"):
            path.parent.mkdir(parents=True, exist_ok=True)
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


def _read(path: Path, map_location: str | torch.device, mmap: bool, check: bool | str = True) -> dict[str, Any]:
    """Load and (`check`: True, or "resume" for what a resume needs too) validate a checkpoint."""
    if path.is_dir():
        newest = list_checkpoints(path)
        hint = f"e.g. {newest[-1][1]}" if newest else "it holds no ckpt_<step>.pt files"
        raise CheckpointError(f"{path} is a folder, not a checkpoint file; pass a checkpoint in it ({hint})")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist (expected a ckpt_<step>.pt file from a training run)")
    try:
        try:
            ckpt = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
        except Exception:
            if not mmap:
                raise
            ckpt = torch.load(path, map_location=map_location, weights_only=True)  # legacy format: not mappable
    except pickle.UnpicklingError as e:
        raise _not_readable(path, e) from None  # PyTorch's message would advise weights_only=False
    except Exception as e:  # zip errors, EOF, ...: all mean "not readable"
        raise _not_readable(path, e) from e
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in _REQUIRED):
        raise CheckpointError(f"{path} is not a pconv checkpoint (expected a dict with keys {list(_REQUIRED)})")
    problem = checkpoint_problem(ckpt, resume=check == "resume") if check else None
    if problem:
        raise CheckpointError(f"checkpoint {path} cannot be used: {problem}; use an earlier ckpt_<step>.pt")
    return ckpt


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu", *, resume: bool = False
) -> dict[str, Any]:
    """Load a checkpoint written by the trainer with `torch.load(weights_only=True)`, and check it.

    Args:
        path: a `.pt` file written by `pconv.train.trainer.Trainer`.
        map_location: where tensors land (default CPU).
        resume: also require the optimizer state and RNG streams (`pconv.train.checkpoint_checks`).

    Returns:
        The checkpoint dict: `ckpt["step"]`, `ckpt["model"]`, `ckpt["config"]`, ...

    Raises:
        CheckpointError: the file is missing, a folder, truncated or corrupt, not a pconv
            checkpoint (a pickle of Python objects is refused, never unpickled), or it fails
            `pconv.train.checkpoint_checks.checkpoint_problem` (non-finite weights, malformed fields).
    """
    return _read(Path(path), map_location, mmap=False, check="resume" if resume else True)


def peek_checkpoint(path: str | os.PathLike) -> dict[str, Any] | None:
    """A checkpoint's dict with its tensors left on disk (memory-mapped), unchecked; None if it cannot be read."""
    try:
        return _read(Path(path), "cpu", mmap=True, check=False)
    except CheckpointError:
        return None


def checkpoint_step(path: str | os.PathLike) -> int | None:
    """The step recorded inside a checkpoint, read without loading its tensors; None if it cannot be read."""
    ckpt = peek_checkpoint(path)
    step = ckpt["step"] if ckpt is not None else None
    return int(step) if isinstance(step, int) and not isinstance(step, bool) and step >= 0 else None


def list_checkpoints(folder: str | os.PathLike) -> list[tuple[int, Path]]:
    """The `ckpt_<step>.pt` files in `folder` as (step, path), oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CKPT_RE.match(p.name))]
    return sorted(found)


def _newest_first(folder: Path) -> list[Path]:
    """The `ckpt_<step>.pt` files by the step recorded inside them (a file's name can be stale), newest
    first; files whose step cannot be read come first, so that trying them reports why."""
    steps = {p: checkpoint_step(p) for _, p in list_checkpoints(folder)}
    readable = sorted((p for p, s in steps.items() if s is not None), key=lambda p: (steps[p], p.name))
    return [p for p, s in steps.items() if s is None] + readable[::-1]


def load_latest(
    folder: str | os.PathLike, path: str | os.PathLike | None = None, warn: Callable[[str], None] = log.warning
) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint in `folder` (or `path`) that a resume can use, saying which ones it skipped and why.

    Candidates: `path` if given, else the `ckpt_<step>.pt` files by the step recorded inside
    them, newest first, then `best.pt`. Each must pass `load_checkpoint(..., resume=True)`:
    readable, finite weights, every field of its type.

    Returns:
        (path, checkpoint), or None when there is no candidate at all.

    Raises:
        CheckpointError: there are candidates but none passes (lists each reason).
    """
    folder = Path(folder)
    candidates = [Path(path)] if path is not None else _newest_first(folder)
    if path is None and (folder / "best.pt").is_file():
        candidates.append(folder / "best.pt")
    errors = []
    for candidate in candidates:
        try:
            return candidate, load_checkpoint(candidate, resume=True)
        except CheckpointError as e:
            errors.append(str(e))
            more = "; trying an older checkpoint" if candidate != candidates[-1] else ""
            warn(f"skipped {candidate.name}: {e}{more}")
    if errors:
        raise CheckpointError("no usable checkpoint to resume from: " + "; ".join(errors))
    return None


def newest_good(folder: str | os.PathLike, warn: Callable[[str], None] = log.info, *, best: bool = True) -> Path | None:
    """The checkpoint that stands for a run: `best.pt` if it passes, else the newest passing `ckpt_<step>.pt`.

    Newest by the step recorded inside (a junk `ckpt_50.pt` does not hide a good `ckpt_4.pt`);
    passing: it loads and `pconv.train.checkpoint_checks.checkpoint_problem` finds nothing (tensors are
    memory-mapped, not copied). Each skipped file is passed to `warn` with the reason.

    Args:
        folder: a run folder (a Trainer's `out`).
        warn: called with one line for each file passed over.
        best: try `best.pt` first; False: only the `ckpt_<step>.pt` files (the studio lists best.pt apart).

    Returns:
        The path, or None when no file in `folder` passes.
    """
    folder = Path(folder)
    first = [folder / "best.pt"] if best and (folder / "best.pt").is_file() else []
    for candidate in first + _newest_first(folder):
        try:
            _read(candidate, "cpu", mmap=True, check=True)
            return candidate
        except CheckpointError as e:
            warn(f"skipped {candidate.name}: {e}")
    return None
