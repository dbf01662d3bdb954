"""Value types of the `python -m pconv` flags: numbers in range, devices, and every path a user gives.

Each is an argparse `type=`: it runs while the command line is parsed, before any work
starts, and a bad value becomes one line naming the flag (exit status 2). Paths go through
`pconv.utils.user_path` here and nowhere else: `~` expanded (quoted too, so `--out "~/run"`
means the home folder, not a folder named `~`), then made absolute against the current
folder. Everything after the parser sees absolute paths, so no later join can apply a
relative root twice.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

from pconv.pretrained import PRETRAINED
from pconv.train import SEED_MAX
from pconv.utils import resolve_device, user_path

__all__ = [
    "SEED_MAX",
    "MAX_IMAGE_SIZE",
    "MAX_MASK_SIZE",
    "DATA_KEYWORDS",
    "count",
    "rate",
    "hole_value",
    "device",
    "path",
    "output",
    "folder",
    "data_source",
    "model_source",
]

# Largest sides, checked before anything is allocated: an 8192 px training batch (or a 60000 px mask,
# 14 GB as float32) used to end in a MemoryError traceback.
MAX_IMAGE_SIZE = 4096  # train
MAX_MASK_SIZE = 8192  # masks: one float32 mask of this side is 256 MiB
DATA_KEYWORDS = ("samples", "celeba")  # --data words; a folder of that name is ./samples


def count(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an int in [low, high] (`high` None: no upper bound)."""
    expected = f">= {low}" if high is None else f"in [{low}, {high}]"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected an integer {expected}, got {text!r}")
        return value

    return parse


def rate(text: str) -> float:
    """An argparse type: a finite number > 0 (a learning rate, a clipping norm)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def hole_value(text: str) -> float | str:
    """An argparse type for --hole-value: 'imagenet' (the ImageNet mean) or a number in [0, 1] (0.5 = 127.5/255)."""
    if text == "imagenet":
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise argparse.ArgumentTypeError(
            f"expected a number in [0, 1] (image space: 0.5 = 127.5/255) or 'imagenet', got {text!r}"
        )
    return value


def device(text: str) -> str:
    """An argparse type: 'auto' or a device this machine has (cpu, cuda, cuda:1, mps)."""
    try:
        resolve_device(text)
    except (RuntimeError, ValueError) as e:  # torch: unknown device strings; pconv: CUDA/MPS missing
        reason = str(e) if "available" in str(e) else "expected auto, cpu, cuda, cuda:N or mps"
        raise argparse.ArgumentTypeError(f"{reason}; got {text!r}") from None
    return text


def path(text: str) -> Path:
    """An argparse type: a path a user gave, resolved once (`user_path`); "" is refused."""
    try:
        return user_path(text)
    except ValueError as e:  # "" would silently mean the current folder
        raise argparse.ArgumentTypeError(str(e)) from None


def output(text: str) -> Path:
    """An argparse type: a path to write (`path`) whose nearest existing parent is a folder, not a file."""
    p = path(text)
    parent = next((a for a in p.parents if a.exists()), None)
    if parent is not None and not parent.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: {parent} is a file, not a folder; pass a path in a folder")
    return p


def folder(text: str) -> Path:
    """An argparse type: a folder to write, existing or not yet (it is made); not a file, not a dangling link."""
    p = output(text)
    if p.is_symlink() and not p.exists():
        raise argparse.ArgumentTypeError(
            f"{text} is a symbolic link to {os.readlink(p)}, which does not exist; "
            "create that folder, or pass another folder"
        )
    if p.exists() and not p.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder; pass a folder")
    return p


def data_source(text: str) -> str | Path:
    """An argparse type for --data: one of `DATA_KEYWORDS` as is, anything else a path (`path`)."""
    return text if text in DATA_KEYWORDS else path(text)


def model_source(text: str) -> str | Path:
    """An argparse type for a pretrained model: a name from `pretrained list` as is, else a file path."""
    return text if text in PRETRAINED else path(text)
