"""Tests for the Makefile's Python check: `make setup` refuses a Python older than pyproject's
requires-python at once, naming the version found and the one needed, before a venv exists.

Old interpreters come from pyenv when the machine has them (CI's has 2.7 and 3.10); otherwise
a stand-in script runs this Python with `sys.version_info` set to 3.10.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEED = re.search(r'requires-python = ">=(\d+)\.(\d+)"', (ROOT / "pyproject.toml").read_text()).groups()
PYENV = Path(os.environ.get("PYENV_ROOT", "~/.pyenv")).expanduser() / "versions"


def _version(python: Path) -> tuple[int, int]:
    major, minor = python.parent.parent.name.split(".")[:2]
    return int(major), int(minor)


def _old_pythons() -> list[Path]:
    """The newest and the oldest pyenv Python older than requires-python (none: an empty list)."""
    found = sorted((p for p in PYENV.glob("*.*/bin/python") if _version(p) < tuple(map(int, NEED))), key=_version)
    return sorted({found[0], found[-1]}) if found else []


def _stand_in(tmp_path: Path) -> Path:
    """An executable that behaves like a Python 3.10 for `python -c CODE ARGS...`."""
    script = tmp_path / "python3.10"
    patch = "import sys; sys.version_info = (3, 10, 9, 'final', 0); exec(sys.argv.pop(1))"
    script.write_text(f'#!/bin/sh\nshift\nexec {sys.executable} -c "{patch}" "$@"\n')
    script.chmod(0o755)
    return script


@pytest.fixture(params=_old_pythons() or ["stand-in"], ids=lambda p: p if isinstance(p, str) else p.parent.parent.name)
def old_python(request, tmp_path) -> Path:
    return _stand_in(tmp_path) if request.param == "stand-in" else request.param


def make(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "-C", str(ROOT), *args], capture_output=True, text=True, env=env, timeout=300)


def found_version(python: Path) -> str:
    code = "import sys; print('%d.%d' % sys.version_info[:2])"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True).stdout.strip()


def test_setup_refuses_an_old_python_before_creating_anything(old_python, tmp_path):
    venv = tmp_path / "venv"
    r = make("setup", f"PYTHON={old_python}", f"VENV={venv}")
    assert r.returncode != 0
    assert f"pconv needs Python >= {'.'.join(NEED)}" in r.stderr
    assert f"is Python {found_version(old_python)} " in r.stderr and str(old_python) in r.stderr
    assert "pip install" not in r.stdout and not venv.exists()


def test_setup_refuses_an_existing_venv_made_with_an_old_python(old_python, tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(old_python)
    (venv / ".pconv-installed").touch()  # even one that an older pconv set up completely
    r = make("setup", f"PYTHON={sys.executable}", f"VENV={venv}")
    assert r.returncode != 0
    assert f"{venv} was made with Python {found_version(old_python)}" in r.stderr
    assert f"rm -rf {venv}" in r.stderr and "pip install" not in r.stdout


def test_a_supported_python_passes_the_check_and_a_missing_one_is_named(tmp_path):
    venv = tmp_path / "venv"
    assert make("check-python", f"PYTHON={sys.executable}", f"VENV={venv}").returncode == 0
    assert not venv.exists()  # the check alone creates nothing
    r = make("check-python", f"PYTHON={tmp_path / 'no-such-python'}", f"VENV={venv}")
    assert r.returncode != 0 and "no-such-python not found" in r.stderr
