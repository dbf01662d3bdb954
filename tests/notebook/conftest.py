"""Fixtures of the notebook room's studio tests: a photo of odd size and a studio on it with a tiny network."""

from __future__ import annotations

import nbformat
import numpy as np
import pytest
import torch

from pconv.nn import PConvUNet
from pconv.notebook import InpaintStudio


def _tiny() -> PConvUNet:
    torch.manual_seed(0)
    return PConvUNet(layers=3, base_channels=8)


@pytest.fixture
def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (45, 67, 3), dtype=np.uint8)  # odd sizes on purpose


@pytest.fixture
def studio(photo) -> InpaintStudio:
    return InpaintStudio(photo, models={"tiny": _tiny()})


@pytest.fixture
def parameters_notebook(tmp_path):
    """Builds a small notebook: a `parameters`-tagged cell of `params_source`, then one code cell per `body` item."""

    def build(params_source: str, body: list[str]):
        nb = nbformat.v4.new_notebook()
        first = nbformat.v4.new_code_cell(params_source)
        first.metadata["tags"] = ["parameters"]
        nb.cells = [nbformat.v4.new_markdown_cell("# probe"), first] + [nbformat.v4.new_code_cell(s) for s in body]
        path = tmp_path / "params.ipynb"
        nbformat.write(nb, path)
        return path

    return build


@pytest.fixture
def probe_notebook(tmp_path):
    """Builds a small notebook of one code cell per `source` item (tmp_path/probe.ipynb)."""

    def build(source: list[str]):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(s) for s in source]
        path = tmp_path / "probe.ipynb"
        nbformat.write(nb, path)
        return path

    return build
