"""Notebook 03 (training) after a Stop in phase 1: the next cell fine-tunes from there, it does not finish phase 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pconv.notebook.runner import run_notebook

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "03_train_inpainting.ipynb"

# Injected after the parameters cell: a longer phase 1 that the user interrupts (the kernel's ■
# raises KeyboardInterrupt inside `fit`) once step 3 is done.
STOP_AT_STEP_3 = """
STEPS = 8
import pconv.train

class _InterruptAt3(pconv.train.LivePlot):
    def on_step_end(self, trainer, step, terms):
        if step == 3 and trainer.config.finetune_steps == 0:
            raise KeyboardInterrupt

pconv.train.LivePlot = _InterruptAt3  # the public name, which the notebook's import cell reads next
"""
REPORT = 'import json\nprint("RESULT", json.dumps({"step": trainer.step, "lr": {r["step"]: r["lr"] for r in history}}))'


def _code_cell(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "id": f"test{abs(hash(source))}", "metadata": {},
            "outputs": [], "source": source}  # fmt: skip


@pytest.mark.slow
def test_a_stop_in_phase_one_goes_on_to_fine_tuning(tmp_path):
    nb = json.loads(NOTEBOOK.read_text())
    first = next(i for i, c in enumerate(nb["cells"]) if c["cell_type"] == "code")
    nb["cells"][first + 1 : first + 1] = [_code_cell(STOP_AT_STEP_3)]
    nb["cells"].append(_code_cell(REPORT))
    path = tmp_path / NOTEBOOK.name
    path.write_text(json.dumps(nb))
    (tmp_path / "home").mkdir()
    env = {"HOME": str(tmp_path / "home"), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    executed = json.loads(run_notebook(path, tmp_path / "executed", smoke=True, timeout=600, env=env).read_text())
    (line,) = [
        text
        for o in executed["cells"][-1]["outputs"]
        for text in "".join(o.get("text", "")).splitlines()
        if text.startswith("RESULT ")
    ]
    result = json.loads(line.removeprefix("RESULT "))
    lr = {int(step): value for step, value in result["lr"].items()}
    finetune = 2  # FINETUNE_STEPS in smoke mode
    assert result["step"] == 3 + finetune  # not STEPS + FINETUNE_STEPS: phase 1 is not finished first
    assert lr == {1: 2e-4, 2: 2e-4, 3: 2e-4, 4: 5e-5, 5: 5e-5}  # phase 1's lr up to the stop, then fine-tuning
