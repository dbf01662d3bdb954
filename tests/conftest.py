"""Test-wide isolation: nothing a test does touches the user's data, outputs, caches or credentials."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory, monkeypatch):
    """Point data, outputs and the torch hub cache at temporary folders; hide Kaggle credentials."""
    root = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("PCONV_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("PCONV_OUTPUT_DIR", str(root / "outputs"))
    monkeypatch.setenv("TORCH_HOME", str(root / "torch_home"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(root / "no_kaggle_config"))
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "PCONV_SMOKE"):
        monkeypatch.delenv(var, raising=False)
