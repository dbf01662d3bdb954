"""pconv.notebook.notebook_parameters: papermill-style parameters, injected after the `parameters` cell."""

from __future__ import annotations

import nbformat
import pytest

from pconv.notebook.notebook_parameters import inject_parameters
from pconv.notebook.runner import run_notebook


def test_the_cell_goes_right_after_the_parameters_cell_in_the_order_given(tmp_path, parameters_notebook):
    nb = nbformat.read(parameters_notebook("STEPS = 10\nSIZE: int = 3", ["pass"]), as_version=4)
    inject_parameters(nb, {"SIZE": [4, 6], "STEPS": 2}, "params.ipynb")
    assert nb.cells[2].metadata["tags"] == ["injected-parameters"]
    assert nb.cells[2].source.splitlines()[1:] == ["SIZE = [4, 6]", "STEPS = 2"]
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code", "code"]


def test_a_parameters_cell_that_is_not_python_is_named(tmp_path, parameters_notebook):
    nb = nbformat.read(parameters_notebook("STEPS = = 1", ["pass"]), as_version=4)
    with pytest.raises(ValueError, match="params.ipynb: the parameters cell is not plain Python"):
        inject_parameters(nb, {"STEPS": 2}, "params.ipynb")


def test_parameter_errors_name_the_notebook_and_what_to_do(tmp_path, parameters_notebook, probe_notebook):
    path = parameters_notebook("STEPS = 10", ["pass"])
    nb = nbformat.read(path, as_version=4)
    with pytest.raises(ValueError, match=r"'STEP' is not a parameter of this notebook; its parameters are \['STEPS'\]"):
        inject_parameters(nb, {"STEP": 1}, "params.ipynb")
    with pytest.raises(ValueError, match="not a Python literal"):
        inject_parameters(nb, {"STEPS": object()}, "params.ipynb")
    plain = probe_notebook(["x = 1"])
    with pytest.raises(ValueError, match="has no code cell tagged 'parameters'"):
        run_notebook(plain, tmp_path / "out", parameters={"x": 2})
    inject_parameters(nb, {}, "params.ipynb")  # nothing to inject: nothing changes
    assert len(nb.cells) == 3
