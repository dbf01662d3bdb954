import os

import nbformat
import pytest

from pconv import nbrun


def _notebook(tmp_path, source):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in source]
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    return path


def test_runs_and_writes_executed_copy_with_smoke_env(tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _notebook(tmp_path, ["import os\nprint(os.environ.get('PCONV_SMOKE'))"])
    out = nbrun.run_notebook(path, tmp_path / "out", smoke=True)
    cell = nbformat.read(out, as_version=4).cells[0]
    assert cell.outputs[0]["text"].strip() == "1"
    if os.name == "posix":  # the kernel talks over local sockets, left nowhere afterwards
        assert "TCP" not in capfd.readouterr().err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "probe.ipynb"]


def test_failing_cell_names_notebook_and_keeps_copy(tmp_path):
    path = _notebook(tmp_path, ["raise ValueError('boom')"])
    with pytest.raises(nbrun.NotebookError, match="probe.ipynb failed") as err:
        nbrun.run_notebook(path, tmp_path / "out")
    assert "boom" in str(err.value)
    assert (tmp_path / "out" / "probe.ipynb").exists()


def test_cli_missing_notebook(tmp_path, capsys):
    assert nbrun.main([str(tmp_path / "nope.ipynb")]) == 1
    assert "notebook not found" in capsys.readouterr().err
