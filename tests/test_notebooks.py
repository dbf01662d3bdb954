"""Every notebook runs top to bottom headless in smoke mode, and is committed without outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pconv.nbrun import NotebookError, run_notebook

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
EXPECTED = [
    "00_quickstart",
    "01_data",
    "02_irregular_masks",
    "03_train_inpainting",
    "04_evaluate",
    "05_unet_segmentation",
    "06_inpaint_your_photo",
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
