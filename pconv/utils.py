"""Small helpers shared by every pconv module: paths, smoke mode, RNGs, devices.

Defined once here so that datasets, the trainer, the CLI and the notebooks agree
on where data lives, how randomness is seeded and which device "auto" means.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "repo_root",
    "data_dir",
    "output_dir",
    "is_smoke",
    "as_rng",
    "resolve_device",
    "check_binary_mask",
    "check_size",
    "check_hw",
    "fsync_folder",
    "process_alive",
    "user_path",
    "WriteFailedError",
    "writing",
    "is_write_failure",
    "eval_mode",
]


def repo_root() -> Path:
    """The repository root when pconv runs from a checkout, else the working directory."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def data_dir() -> Path:
    """Where downloads and generated data go: `$PCONV_DATA_DIR` or `<repo>/data`."""
    return Path(os.environ.get("PCONV_DATA_DIR") or repo_root() / "data").expanduser()


def output_dir() -> Path:
    """Where figures, executed notebooks and runs go: `$PCONV_OUTPUT_DIR` or `<repo>/outputs`."""
    return Path(os.environ.get("PCONV_OUTPUT_DIR") or repo_root() / "outputs").expanduser()


def is_smoke() -> bool:
    """True when `PCONV_SMOKE=1`: notebooks and the CLI shrink to a tiny configuration."""
    return os.environ.get("PCONV_SMOKE") == "1"


def as_rng(rng: None | int | np.random.Generator | np.random.SeedSequence = None) -> np.random.Generator:
    """Normalise `rng` (None, an int seed, a SeedSequence or a Generator) to a Generator.

    A Generator is returned as is (the caller's stream advances); None gives a fresh,
    unseeded stream.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer, np.random.SeedSequence)):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be None, an int seed or a numpy.random.Generator, got {type(rng).__name__}")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Map "auto" to CUDA, then Apple MPS, then CPU; pass anything else to `torch.device`.

    Raises:
        ValueError: a CUDA or MPS device was asked for but is not available.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but CUDA is not available here; use 'auto' or 'cpu'")
    if dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ValueError(f"device={device!r} was asked for but Apple MPS is not available here; use 'auto' or 'cpu'")
    return dev


def check_binary_mask(mask: torch.Tensor, name: str = "mask") -> None:
    """Raise ValueError unless every value of `mask` is exactly 0 or 1."""
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError(
            f"{name} must be binary (1 = valid, 0 = hole); got values other than 0 and 1. "
            "Resize masks with nearest-neighbour interpolation and re-binarise, e.g. `(mask > 0.5).float()`."
        )


def check_size(size: object, name: str = "size") -> int:
    """A positive int (pixels, a count), else ValueError naming `name`."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{name} must be a positive int (pixels), got {size!r}")
    return int(size)


def check_hw(size: object, name: str = "size") -> tuple[int, int]:
    """An int side or an (H, W) pair of positive ints, as (H, W); else ValueError naming `name`."""
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        size = (size, size)
    try:
        h, w = size  # type: ignore[misc]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive int or a pair (H, W) of positive ints, got {size!r}") from None
    try:
        return check_size(h, name), check_size(w, name)
    except ValueError:
        raise ValueError(f"{name} must be a positive int or a pair (H, W) of positive ints, got {size!r}") from None


def fsync_folder(folder: str | os.PathLike) -> None:
    """Make a rename inside `folder` durable (fsync the directory); a no-op where that is impossible."""
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def process_alive(pid: int) -> bool:
    """Whether process `pid` still runs (another user's process counts): owners of leftover temp files."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else (PermissionError)
    return True


def user_path(path: str | os.PathLike) -> Path:
    """A path a user gave (a flag, an argument), resolved once at the boundary.

    `~` is expanded (also when it reached us quoted, as the literal text "~/run"), then a
    relative path is made absolute against the current folder. Symlinks are kept as they
    are (not resolved), so messages show the path the user knows.

    Raises:
        ValueError: `path` is empty ("" would silently mean the current folder).
    """
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if not text.strip():
        raise ValueError("an empty path was given; pass a file or folder name")
    return Path(text).expanduser().absolute()


# errno values of a write that the user can fix: space, quota, permissions, a read-only disk.
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EFBIG}


class WriteFailedError(OSError):
    """Writing a file failed for a reason the user can fix (full disk, permissions, read-only).

    Nothing half-written is left behind and earlier files are intact; the message names the
    path and what to do. The CLI prints it as one line and exits with status 2.
    """


def _write_advice(e: BaseException) -> str:
    code = getattr(e, "errno", None)
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or code is None:
        return "the disk (or your quota) is full: free some space, or write somewhere else"
    if code == errno.EROFS:
        return "that disk is read-only: write somewhere else"
    return "you may not write there: fix its permissions, or write somewhere else"


def is_write_failure(e: BaseException) -> bool:
    """Whether `e` is a write failure the user can fix: an OSError with a disk-full or permission
    errno, or torch.save's RuntimeError for a failed write (it reports ENOSPC that way)."""
    if isinstance(e, OSError):
        return e.errno in _WRITE_ERRNOS
    text = str(e)
    return isinstance(e, RuntimeError) and (
        "PytorchStreamWriter failed" in text or "inline_container" in text or "unexpected pos" in text
    )


@contextmanager
def writing(path: str | os.PathLike, what: str = "file") -> Iterator[None]:
    """Turn a fixable write failure inside the block into `WriteFailedError` naming `path`.

    Args:
        path: the file or folder being written (named in the message).
        what: what it is, for the message ("checkpoint", "mask set", ...).

    Other errors pass through unchanged, so real bugs keep their tracebacks.
    """
    try:
        yield
    except WriteFailedError:
        raise
    except (OSError, RuntimeError) as e:
        if not is_write_failure(e):
            raise
        reason = os.strerror(e.errno) if isinstance(e, OSError) and e.errno else "the write failed"
        err = WriteFailedError(f"could not write {what} {os.fspath(path)}: {reason}; {_write_advice(e)}")
        err.errno = getattr(e, "errno", None) or errno.ENOSPC
        raise err from e


@contextmanager
def eval_mode(*models: Any) -> Iterator[None]:
    """Eval mode inside the block for every `torch.nn.Module` among `models`; each one's mode restored after.

    Inference in training mode would let batch norm update its running statistics from the
    batch (and dropout drop), so every prediction pconv makes outside training runs in here.
    Other objects (a classical fill, a function) are passed over.
    """
    modules = [m for m in models if isinstance(m, torch.nn.Module)]
    flags = [m.training for m in modules]
    for m in modules:
        m.eval()
    try:
        yield
    finally:
        for m, flag in zip(modules, flags):
            m.train(flag)
