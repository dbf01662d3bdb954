"""The import rule (pyproject.toml's [tool.importlinter]): it holds on this tree, and breaking it fails `make lint`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}  # this copy of pconv, not the installed one
    return subprocess.run([str(LINT)], cwd=root, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "pconv", tmp_path / "pconv", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    return tmp_path


def add_import(path: Path, line: str) -> None:
    text = path.read_text()
    cut = text.index("\nfrom __future__ import annotations\n") + len("\nfrom __future__ import annotations\n")
    path.write_text(text[:cut] + line + "\n" + text[cut:])


def test_the_contract_holds_on_this_tree(tree):
    done = lint(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("nn/partial_conv.py", "import pconv.train  # noqa", "Rooms"),  # a lower room imports a higher one
        ("data/samples.py", "from pconv.nn import PConvUNet  # noqa", "Rooms"),  # nn and data are independent
        ("utils.py", "import pconv.data  # noqa", "Rooms"),  # utils is the lowest
        ("nn/blocks.py", "import pconv.nn.pconv_unet  # noqa", "No import cycles"),  # pconv_unet imports blocks
    ],
)
def test_breaking_the_contract_fails_the_check(tree, module, line, broken):
    add_import(tree / "pconv" / module, line)
    done = lint(tree)
    assert done.returncode != 0, done.stdout
    assert f"{broken}" in done.stdout and "BROKEN" in done.stdout
