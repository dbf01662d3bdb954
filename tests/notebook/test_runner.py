import io
import os

import nbformat
import pytest

from pconv.notebook import runner as nbrun


def test_runs_and_writes_executed_copy_with_smoke_env(tmp_path, capfd, monkeypatch, probe_notebook):
    monkeypatch.chdir(tmp_path)
    path = probe_notebook(["import os\nprint(os.environ.get('PCONV_SMOKE'))"])
    out = nbrun.run_notebook(path, tmp_path / "out", smoke=True)
    cell = nbformat.read(out, as_version=4).cells[0]
    assert cell.outputs[0]["text"].strip() == "1"
    if os.name == "posix":  # the kernel talks over local sockets, left nowhere afterwards
        assert "TCP" not in capfd.readouterr().err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "probe.ipynb"]


def test_failing_cell_names_notebook_and_keeps_copy(tmp_path, probe_notebook):
    path = probe_notebook(["raise ValueError('boom')"])
    with pytest.raises(nbrun.NotebookError, match="probe.ipynb failed") as err:
        nbrun.run_notebook(path, tmp_path / "out")
    assert "boom" in str(err.value)
    assert (tmp_path / "out" / "probe.ipynb").exists()


def test_cli_missing_notebook(tmp_path, capsys):
    assert nbrun.main([str(tmp_path / "nope.ipynb")]) == 1
    assert "notebook not found" in capsys.readouterr().err


# ---------------------------------------------------------------- parameters


def test_parameters_are_injected_after_the_parameters_cell(tmp_path, parameters_notebook):
    path = parameters_notebook("STEPS = 10\nNAME = 'a'\nSIZE: int = 3", ["print(STEPS, NAME, SIZE)"])
    out = nbrun.run_notebook(path, tmp_path / "out", parameters={"STEPS": 2, "SIZE": (4, 6)})
    cells = nbformat.read(out, as_version=4).cells
    assert cells[2].metadata["tags"] == ["injected-parameters"]
    assert cells[2].source.splitlines()[1:] == ["STEPS = 2", "SIZE = (4, 6)"]
    assert cells[3].outputs[0]["text"].strip() == "2 a (4, 6)"
    assert len(nbformat.read(path, as_version=4).cells) == 3  # the notebook itself is left alone


def test_cli_parameters_and_errors(tmp_path, capsys, parameters_notebook):
    path = parameters_notebook("STEPS = 10\nNAME = 'a'", ["print(STEPS, NAME)"])
    assert nbrun.main([str(path), "--out", str(tmp_path / "out"), "-p", "STEPS=3", "-p", "NAME=b c", "--quiet"]) == 0
    assert "ran " in capsys.readouterr().out
    cells = nbformat.read(tmp_path / "out" / "params.ipynb", as_version=4).cells
    assert cells[3].outputs[0]["text"].strip() == "3 b c"  # a value that is no literal stays a string
    assert nbrun.main([str(path), "--out", str(tmp_path / "out"), "-p", "NOPE=1", "--quiet"]) == 1
    assert "'NOPE' is not a parameter" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        nbrun.main([str(path), "-p", "no-equals-sign"])
    assert "expected NAME=VALUE" in capsys.readouterr().err


# ---------------------------------------------------------------- what the terminal is told


def test_echo_names_each_cell_and_streams_lines_and_progress(tmp_path, probe_notebook):
    source = [
        "print('first line')\nimport sys\nprint('to stderr', file=sys.stderr)",
        "%matplotlib inline\nfrom tqdm.auto import tqdm\nfor _ in tqdm(range(5), desc='train'):\n    pass",
        "print('no newline at the end', end='')",
    ]
    path = probe_notebook(source)
    echo = io.StringIO()
    nbrun.run_notebook(path, tmp_path / "out", echo=echo)
    lines = echo.getvalue().splitlines()
    assert lines[0] == "[cell 1/3] print('first line')"
    assert "    first line" in lines and "    to stderr" in lines
    assert "[cell 2/3] from tqdm.auto import tqdm" in lines  # the magic line is not the cell's headline
    progress = [ln for ln in lines if "5/5" in ln]
    assert len(progress) == 1 and progress[0].startswith("    train: 100%")  # the widget bar, read from its updates
    assert lines[-2:] == ["[cell 3/3] print('no newline at the end', end='')", "    no newline at the end"]


def test_cli_tells_the_terminal_by_default(tmp_path, capsys, probe_notebook):
    path = probe_notebook(["print('hello')"])
    assert nbrun.main([str(path), "--out", str(tmp_path / "out")]) == 0
    captured = capsys.readouterr()
    assert "[cell 1/1] print('hello')" in captured.err and "    hello" in captured.err
    assert "CPU-seconds in the kernel" in captured.out or os.name != "posix"


def test_a_cell_past_the_timeout_and_a_dead_kernel_say_what_to_do(tmp_path, probe_notebook):
    slow = probe_notebook(["import time\ntime.sleep(60)"])
    with pytest.raises(nbrun.NotebookError, match=r"ran longer than 2 s .* \(--timeout S\)"):
        nbrun.run_notebook(slow, tmp_path / "out", timeout=2)
    assert (tmp_path / "out" / "probe.ipynb").exists()
    dead = probe_notebook(["import os\nos._exit(1)"])
    with pytest.raises(nbrun.NotebookError, match="the kernel died"):
        nbrun.run_notebook(dead, tmp_path / "out", timeout=60)
