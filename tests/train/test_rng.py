"""pconv.train.rng: one seed gives the same draws, a snapshot restores every stream, a bad snapshot is named."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from pconv.train.rng import capture_rng, restore_rng, rng_problem, seed_everything


def draws() -> tuple[list[float], list[float], list[float]]:
    """A few draws from each global stream (Gaussians too: numpy and Python cache one between calls)."""
    t = torch.rand(3).tolist() + torch.randn(1).tolist()
    n = np.random.rand(3).tolist() + [float(np.random.randn())]
    p = [random.random() for _ in range(3)] + [random.gauss(0, 1)]
    return t, n, p


def test_one_seed_gives_the_same_draws_from_every_stream():
    seed_everything(7)
    first = draws()
    seed_everything(7)
    assert draws() == first
    seed_everything(8)
    assert draws() != first
    seed_everything(2**40 + 3)  # beyond numpy's 32 bits: taken modulo 2**32, not refused
    draws()


def test_a_snapshot_restores_every_stream_even_after_a_weights_only_round_trip(tmp_path):
    seed_everything(1)
    np.random.randn()  # leave a cached Gaussian in numpy's state
    random.gauss(0, 1)  # and in Python's
    torch.save(capture_rng(), tmp_path / "rng.pt")
    expected = draws()
    draws()
    restore_rng(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert draws() == expected


BAD_STATES = {
    "not-a-dict": ([1, 2], "expected a dict"),
    "no-python": (lambda s: {k: v for k, v in s.items() if k != "python"}, "expected a dict"),
    "cuda-not-tensors": (lambda s: {**s, "cuda": [1]}, "cuda"),
    "torch-float": (lambda s: {**s, "torch": s["torch"].float()}, "torch"),
    "torch-short": (lambda s: {**s, "torch": torch.zeros(4, dtype=torch.uint8)}, "torch"),
    "numpy-keys-short": (lambda s: {**s, "numpy": {**s["numpy"], "keys": torch.zeros(3, dtype=torch.int64)}}, "numpy"),
    "numpy-missing-pos": (lambda s: {**s, "numpy": {k: v for k, v in s["numpy"].items() if k != "pos"}}, "numpy"),
    "python-short": (lambda s: {**s, "python": [3]}, "python"),
}


@pytest.mark.parametrize("spoil,expected", BAD_STATES.values(), ids=BAD_STATES.keys())
def test_rng_problem_names_the_stream_and_leaves_the_global_streams_alone(spoil, expected):
    state = capture_rng()
    assert rng_problem(state) is None
    before = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    problem = rng_problem(spoil(state) if callable(spoil) else spoil)
    assert problem is not None and expected in problem
    assert torch.equal(torch.get_rng_state(), before[0])
    assert (np.random.get_state()[1] == before[1]).all() and random.getstate() == before[2]
