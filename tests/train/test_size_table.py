"""pconv.train.size_table: one table of sized configurations, the kind a device gets, and every reader using it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pconv.cli.parser import build_parser
from pconv.notebook.panel_controls import start_values
from pconv.train import SIZES, device_kind, quickstart, size_table, training_settings

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
USES = {
    "quickstart": {"cpu", "cuda", "smoke"},
    "train_inpainting": {"cpu", "cuda", "smoke"},
    "cli": {"smoke"},
    "panel": {"any"},
    "unet_segmentation": {"cpu", "cuda", "smoke"},
    "ablations": {"cpu", "cuda", "smoke"},
}


def test_the_table_holds_every_use_and_kind():
    assert {use for use, _ in SIZES} == set(USES)
    for use, kinds in USES.items():
        assert {kind for u, kind in SIZES if u == use} == kinds, use


@pytest.mark.parametrize(("device", "smoke", "kind"), [
    ("cpu", False, "cpu"), ("cuda", False, "cuda"), ("cuda:1", False, "cuda"), (torch.device("cuda"), False, "cuda"),
    ("mps", False, "cpu"), ("cuda", True, "smoke"), ("cpu", True, "smoke"),
])  # fmt: skip
def test_device_kind(device, smoke, kind):
    assert device_kind(device, smoke) == kind


def test_device_kind_follows_the_environment(monkeypatch):
    monkeypatch.setenv("PCONV_SMOKE", "1")
    assert device_kind("cpu") == "smoke"
    monkeypatch.delenv("PCONV_SMOKE")
    assert device_kind("cpu") == "cpu"


@pytest.mark.parametrize("kind", ["cpu", "cuda", "smoke"])
def test_inpainting_sizes_fit_their_networks(kind):
    quick, run = SIZES["quickstart", kind], SIZES["train_inpainting", kind]
    assert quick["size"] % 2 ** quick["model_kwargs"]["layers"] == 0
    assert run["size"] % 2 ** run["layers"] == 0 and run["every"] <= run["steps"]
    seg = SIZES["unet_segmentation", kind]
    assert len(seg["size"]) == 2 and seg["val_every"] <= seg["steps"] and len(seg["synthetic"]) == 2


def test_every_reader_takes_its_values_from_the_table(monkeypatch):
    for kind in ("cpu", "smoke"):
        recipe, spec = quickstart("cpu", smoke=kind == "smoke"), SIZES["quickstart", kind]
        assert (recipe.size, recipe.per_bin) == (spec["size"], spec["per_bin"])
        assert recipe.model_kwargs == spec["model_kwargs"]
        assert recipe.train_kwargs.items() >= {**spec["train_kwargs"], **spec["events"]}.items()
        run = training_settings("cpu", smoke=kind == "smoke")
        assert {k: getattr(run, k) for k in SIZES["train_inpainting", kind]} == SIZES["train_inpainting", kind]
    monkeypatch.setenv("PCONV_SMOKE", "1")
    args = vars(build_parser().parse_args(["train"]))
    assert {k: args[k] for k in SIZES["cli", "smoke"] if k in args} == {
        k: v for k, v in SIZES["cli", "smoke"].items() if k in args
    }
    values = start_values()
    assert {k: values[k] for k in SIZES["panel", "any"]} == SIZES["panel", "any"]


def test_a_readers_copy_leaves_the_table_alone():
    before = json.dumps({f"{u}/{k}": v for (u, k), v in SIZES.items()}, default=str)
    recipe = quickstart("cpu", smoke=True)
    recipe.model_kwargs["layers"] = 99
    recipe.train_kwargs["steps"] = 99
    recipe.notes.append("changed")
    assert json.dumps({f"{u}/{k}": v for (u, k), v in SIZES.items()}, default=str) == before


def test_notebook_05_reads_the_table():
    nb = json.loads((NOTEBOOKS / "05_unet_segmentation.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert 'SIZES["unet_segmentation", kind]' in code and "PRESETS" not in code


def test_sized_values_lets_the_callers_values_win_and_names_an_unknown_one():
    dev, kind, values, chosen = size_table.sized_values(
        "probe", "train_inpainting", ["size", "steps"], "cpu", False, {"steps": 7, "size": None}
    )
    assert (dev, kind, chosen) == (torch.device("cpu"), "cpu", {"steps": 7})
    assert values == {**SIZES["train_inpainting", "cpu"], "steps": 7}  # None: the table's value
    with pytest.raises(TypeError, match=r"probe: unknown setting\(s\) \['lr'\]; known: \['size', 'steps'\]"):
        size_table.sized_values("probe", "train_inpainting", ["size", "steps"], "cpu", False, {"lr": 1.0})
    size_table.check_size_fits_layers(64, 6)
    with pytest.raises(ValueError, match=r"SIZE 48 must be a multiple of 2\*\*LAYERS = 32: change SIZE or LAYERS"):
        size_table.check_size_fits_layers(48, 5)
