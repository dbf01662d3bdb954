"""Every notebook runs top to bottom headless in smoke mode, and is committed without outputs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pconv.nn import PConvUNet, UNet
from pconv.notebook.runner import NotebookError, run_notebook
from pconv.train import model_info, save_checkpoint

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
EXPECTED = [
    "00_quickstart",
    "01_data",
    "02_irregular_masks",
    "03_train_inpainting",
    "04_evaluate",
    "05_unet_segmentation",
    "06_inpaint_your_photo",
    "07_ablations",
]


def test_the_numbered_sequence_is_complete():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_clean_with_parameters_cell(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, f"{path.name} has no code cell"
    for cell in code:
        assert not cell.get("outputs") and cell.get("execution_count") is None, f"{path.name} has outputs"
    first = code[0]
    assert "parameters" in first.get("metadata", {}).get("tags", []), f"{path.name}: first code cell is not tagged"
    assert 'SMOKE = os.environ.get("PCONV_SMOKE") == "1"' in "".join(first["source"])
    assert nb["cells"][0]["cell_type"] == "markdown", f"{path.name} should open with prose"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_runs_top_to_bottom_in_smoke_mode(path, tmp_path):
    env = {"HOME": str(tmp_path / "home"), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    (tmp_path / "home").mkdir()
    try:
        out = run_notebook(path, tmp_path / "executed", smoke=True, timeout=600, env=env)
    except NotebookError as err:
        pytest.fail(str(err))
    executed = json.loads(out.read_text())
    errors = [
        o
        for c in executed["cells"]
        if c["cell_type"] == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors


@pytest.mark.slow
def test_data_notebook_downloads_through_the_real_client(tmp_path):
    """01_data with credentials: the real kaggle client downloads from a fake Kaggle on 127.0.0.1."""
    from fake_kaggle import KEY, notebook_server

    (tmp_path / "home").mkdir()
    path = next(p for p in NOTEBOOKS if p.stem == "01_data")
    with notebook_server() as fake:
        env = {
            **fake.env(),
            "HOME": str(tmp_path / "home"),
            "KAGGLE_CONFIG_DIR": str(tmp_path / "kc"),
            "PCONV_DATA_DIR": str(tmp_path / "data"),
        }
        out = run_notebook(path, tmp_path / "executed", smoke=True, timeout=600, env=env)
        assert any(p.startswith("/api/") for p in fake.api_calls())
    assert (tmp_path / "data" / "celebahq256" / ".pconv-complete").exists()
    assert KEY not in out.read_text()


def _errors(executed: Path) -> list[str]:
    cells = json.loads(executed.read_text())["cells"]
    return [
        f"{o['ename']}: {o['evalue']}" for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"
    ]


def _text(executed: Path) -> str:
    """Everything the executed notebook printed or displayed as text."""
    parts = []
    for cell in json.loads(executed.read_text())["cells"]:
        for o in cell.get("outputs", []):
            parts.append("".join(o.get("text", "")))
            for mime in ("text/plain", "text/html"):
                parts.append("".join(o.get("data", {}).get(mime, "")))
    return "\n".join(parts)


def _notebook(stem: str) -> Path:
    return next(p for p in NOTEBOOKS if p.stem == stem)


def _run_smoke(tmp_path: Path, stem: str, **parameters) -> str:
    """Run a notebook in smoke mode with a fresh HOME (and parameters overridden); what it printed."""
    (tmp_path / "home").mkdir()
    try:
        out = run_notebook(
            _notebook(stem),
            tmp_path / "executed",
            smoke=True,
            timeout=600,
            env={"HOME": str(tmp_path / "home")},
            parameters=parameters,
        )
    except NotebookError as err:
        pytest.fail(str(err))
    return _text(out)


@pytest.mark.slow
def test_quickstart_without_opencv(tmp_path):
    """00's last cell raised KeyError: 'telea' when OpenCV was not installed."""
    hide = tmp_path / "no_cv2" / "cv2"
    hide.mkdir(parents=True)
    (hide / "__init__.py").write_text("raise ImportError('OpenCV hidden by the test')\n")
    (tmp_path / "home").mkdir()
    path = os.pathsep.join(p for p in [str(hide.parent), os.environ.get("PYTHONPATH", "")] if p)
    env = {"HOME": str(tmp_path / "home"), "PYTHONPATH": path}  # the kernel finds the stand-in first
    try:
        out = run_notebook(_notebook("00_quickstart"), tmp_path / "executed", smoke=True, timeout=600, env=env)
    except NotebookError as err:
        pytest.fail(str(err))
    text = _text(out)
    assert "biharmonic" in text and "telea" not in text  # the table and the figures hold what there is
    assert (tmp_path / "outputs" / "quickstart_fills.png").is_file()  # the picture the README shows


@pytest.mark.slow
def test_data_notebook_does_not_download_by_default(tmp_path):
    """01 with credentials present: Run All used to start a (multi-gigabyte) download by itself."""
    from fake_kaggle import notebook_server

    (tmp_path / "home").mkdir()
    with notebook_server() as fake:
        env = {**fake.env(), "HOME": str(tmp_path / "home"), "PCONV_DATA_DIR": str(tmp_path / "data")}
        del env["PCONV_DOWNLOAD"]  # the user's default: no choice made
        out = run_notebook(_notebook("01_data"), tmp_path / "executed", timeout=600, env=env)  # not smoke mode
        assert fake.api_calls() == []
    assert not (tmp_path / "data" / "celebahq256").exists()
    assert "DOWNLOAD is False" in _text(out) and not _errors(out)


@pytest.mark.slow
def test_segmentation_notebook_after_an_early_stop(tmp_path):
    """05: stopped before the first validation (no best.pt), the next cell failed; now the newest checkpoint serves."""
    (tmp_path / "home").mkdir()
    env = {"HOME": str(tmp_path / "home")}
    try:
        out = run_notebook(
            _notebook("05_unet_segmentation"),
            tmp_path / "executed",
            smoke=True,
            timeout=600,
            env=env,
            parameters={"TIME_LIMIT": 0, "STEPS": 3},  # a zero time budget: stop after the first step
        )
    except NotebookError as err:
        pytest.fail(str(err))
    text = _text(out)
    assert "weights of ckpt_1.pt: stopped at step 1, before the first validation" in text
    assert "expected time: not measured for your settings {'steps': 3}" in text
    runs = list((tmp_path / "outputs" / "runs").iterdir())
    assert len(runs) == 1 and not (runs[0] / "best.pt").exists()


@pytest.mark.slow
def test_evaluate_notebook_compares_the_runs_it_finds_and_a_pretrained_model(tmp_path):
    """04 takes every inpainting run under outputs/runs/ (best.pt, else the newest ckpt) and skips the others;
    its section 8 scores a converted public checkpoint beside them (an mmagic-layout file, random weights)."""
    from source_nets import mmagic_file

    runs = tmp_path / "outputs" / "runs"
    for name, model, task, file in [
        ("earlier", PConvUNet(layers=2, base_channels=4, max_channels=8), "inpainting", "ckpt_3.pt"),
        ("segmentation", UNet(features=(4, 8)), "segmentation", "best.pt"),
    ]:
        config = {"size": 32, "model": model_info(model), "task": task}
        save_checkpoint({"step": 3, "model": model.state_dict(), "config": config}, runs / name / file)
    weights = mmagic_file(tmp_path / "pconv_mmagic_tiny.pth", layers=4)
    text = _run_smoke(tmp_path, "04_evaluate", PRETRAINED=[str(weights)], PRETRAINED_SIZE=64)
    assert "earlier/ckpt_3: PConvUNet" in text and "segmentation/" not in text
    assert text.count("/best: PConvUNet") == 1  # the run the notebook trained in smoke mode
    assert "pconv_mmagic_tiny: layers=4" in text and "No pretrained model is cached" not in text
    section = text[text.index("pconv_mmagic_tiny: layers=4") :]
    assert "pconv_mmagic_tiny" in section[40:]  # a row of the pretrained table, after the listing line
