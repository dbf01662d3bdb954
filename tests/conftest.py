"""Test-wide isolation: nothing a test does touches the user's data, outputs, caches or credentials."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory, tmp_path, monkeypatch):
    """Point data, outputs and the torch hub cache at temporary folders; hide Kaggle credentials.

    Outputs (run folders, figures) are per test, so no test sees another's runs; generated
    data (the fixed test-mask sets) is shared by the session, as it is for a user.
    """
    root = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("PCONV_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("PCONV_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("TORCH_HOME", str(root / "torch_home"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(root / "no_kaggle_config"))
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "PCONV_SMOKE"):
        monkeypatch.delenv(var, raising=False)
