"""pconv.train.checkpoint_checks: a good checkpoint passes, every malformed field is named, non-finite tensors found."""

from __future__ import annotations

import pytest
import torch
from tiny_run import BAD_FIELDS, training_ckpt

from pconv.train import non_finite_tensor
from pconv.train.checkpoint_checks import checkpoint_problem


def test_a_training_checkpoint_passes_for_loading_and_for_a_resume():
    ckpt = training_ckpt(4)
    assert checkpoint_problem(ckpt) is None and checkpoint_problem(ckpt, resume=True) is None


@pytest.mark.parametrize("spoil", BAD_FIELDS.values(), ids=BAD_FIELDS.keys())
def test_every_malformed_field_is_one_reason(spoil):
    problem = checkpoint_problem(spoil(training_ckpt(4)), resume=True)
    assert isinstance(problem, str) and problem.startswith("it")  # follows "the checkpoint cannot be used: "


def test_only_step_and_model_are_required_except_for_a_resume():
    converted = {"step": 0, "model": {"w": torch.ones(2)}, "config": {"model": {"name": "PConvUNet", "kwargs": {}}}}
    assert checkpoint_problem(converted) is None
    assert "no optimizer and no rng" in checkpoint_problem(converted, resume=True)
    assert "not a checkpoint dict" in checkpoint_problem([1, 2])
    assert "step" in checkpoint_problem({"model": {}})
    assert "not a state dict" in checkpoint_problem({"step": 1, "model": {"w": [1.0]}})


def test_non_finite_tensor_names_the_first_bad_tensor_even_when_nested():
    good = {"a": torch.ones(3), "n": torch.tensor([1, 2]), "empty": torch.empty(0), "x": "text"}
    assert non_finite_tensor(good) is None
    assert non_finite_tensor({**good, "b": torch.tensor([1.0, float("nan")])}) == "b"
    assert non_finite_tensor({"state": {0: {"exp_avg": torch.tensor([float("inf")])}}}) == "state.0.exp_avg"
