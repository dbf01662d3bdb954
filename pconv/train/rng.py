"""RNG streams of a training run: seeding them, and saving them for an exact resume.

A run is reproducible from its `seed` alone: every random draw (weights, dropout, masks,
the data order) flows from it, and DataLoader workers get distinct streams derived from
it (`pconv.data.loader_seed`), so two runs with one seed train the same network. It is
resumable mid-run because a checkpoint holds every global stream (torch, CUDA, numpy,
Python) as plain tensors and lists, which `torch.load(weights_only=True)` reads back
(tests/train/test_trainer.py resumes a run and compares it with one that never stopped).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

__all__ = ["seed_everything", "capture_rng", "restore_rng", "rng_problem"]


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global streams (CUDA included)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def capture_rng() -> dict[str, Any]:
    """Snapshot the torch, CUDA, numpy and Python RNG streams as tensors and lists."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": [version, list(py_state), gauss_next],
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Restore RNG streams saved by `capture_rng` (CUDA only when the device count matches)."""
    torch.set_rng_state(state["torch"].cpu())
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["name"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    version, py_state, gauss_next = state["python"]
    random.setstate((version, tuple(py_state), gauss_next))


def rng_problem(state: Any) -> str | None:
    """Why `state` is not what `capture_rng` writes, tried on fresh generators (the global ones are left alone).

    Returns:
        The first problem found, or None when `restore_rng` can restore every stream.
    """
    if not isinstance(state, dict) or any(k not in state for k in ("torch", "numpy", "python")):
        return "expected a dict with torch, numpy and python streams"
    cuda = state.get("cuda", [])
    if not isinstance(cuda, list) or not all(isinstance(s, torch.Tensor) and s.dtype == torch.uint8 for s in cuda):
        return "the cuda streams are not a list of uint8 tensors"
    n, py = state["numpy"], state["python"]
    try:
        if not (isinstance(state["torch"], torch.Tensor) and state["torch"].dtype == torch.uint8):
            raise TypeError("not a uint8 tensor")
        torch.Generator().set_state(state["torch"].cpu())
    except (TypeError, RuntimeError) as e:
        return f"the torch stream cannot be restored ({e})"
    try:
        keys = n["keys"].numpy().astype(np.uint32)
        np.random.RandomState().set_state((n["name"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    except (TypeError, ValueError, KeyError, IndexError, AttributeError) as e:
        return f"the numpy stream cannot be restored ({type(e).__name__}: {e})"
    try:
        version, py_state, gauss_next = py
        random.Random().setstate((version, tuple(py_state), gauss_next))
    except (TypeError, ValueError) as e:
        return f"the python stream cannot be restored ({type(e).__name__}: {e})"
    return None
