"""pconv.notebook.panel_plan: what one Train will do, and every setting it refuses before a thread starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pconv.nn import PConvUNet
from pconv.notebook.panel_controls import start_values
from pconv.notebook.panel_plan import plan_run
from pconv.utils import output_dir


def _values(**changes) -> dict:
    return {**start_values(), "out": "", **changes}


def test_a_fresh_train_gets_a_new_run_folder_of_its_own():
    first = plan_run(_values(), None, None, None, {})
    second = plan_run(_values(), None, None, None, {})
    assert (first.resume, first.start_step, first.reuse_model) == (False, 0, False)
    assert Path(first.config.out).parent == output_dir() / "runs" and Path(first.config.out).name.startswith("panel-")
    assert first.config.out != second.config.out  # two Trains within a second: two folders
    assert first.config.steps == _values()["steps"] and first.values == _values()


def test_the_size_must_fit_the_layers_unless_the_data_is_pinned():
    with pytest.raises(ValueError, match=r"size 64 must be a multiple of 2\*\*layers = 128"):
        plan_run(_values(size=64, layers=7), None, None, None, {})
    assert plan_run(_values(size=64, layers=7), None, None, None, {"data": object()}).config.size == 64


def test_continue_needs_a_run_and_goes_on_from_its_newest_checkpoint(tmp_path):
    with pytest.raises(ValueError, match="continue: no run yet; press Train once first"):
        plan_run(_values(**{"continue": True}), None, None, None, {})
    with pytest.raises(ValueError, match=f"continue: no checkpoint in {tmp_path}"):
        plan_run(_values(**{"continue": True}), None, str(tmp_path), None, {})
    for step in (3, 5):
        (tmp_path / f"ckpt_{step}.pt").write_bytes(b"")
    plan = plan_run(_values(**{"continue": True}), None, str(tmp_path), None, {})
    assert plan.resume and plan.start_step == 5 and plan.config.steps == 5 + _values()["steps"]
    assert plan.config.out == str(tmp_path) and not plan.reuse_model  # no model of the panel's own to keep


def test_continue_keeps_the_last_model_only_with_its_architecture(tmp_path):
    (tmp_path / "ckpt_2.pt").write_bytes(b"")
    values = _values(**{"continue": True})
    torch.manual_seed(0)
    model = PConvUNet(layers=values["layers"], base_channels=values["base_channels"])
    assert plan_run(values, None, str(tmp_path), model, {}).reuse_model
    assert not plan_run(values, None, str(tmp_path), model, {"model": model}).reuse_model  # pinned: as given
    with pytest.raises(ValueError, match="continue keeps the last run's model"):
        plan_run({**values, "layers": values["layers"] + 1}, None, str(tmp_path), model, {})
    with pytest.raises(ValueError, match=r"\(\d+ layers, \d+ channels, partial convolutions\): set those back"):
        plan_run({**values, "conv": "gated"}, None, str(tmp_path), model, {})  # another kind of layer


def test_a_fresh_train_never_writes_into_a_folder_that_holds_a_run(tmp_path):
    (tmp_path / "best.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="holds a run already; tick continue"):
        plan_run(_values(out=str(tmp_path)), None, None, None, {})
