"""Shared by the pretrained room's tests."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def data(tmp_path, monkeypatch):
    """A fresh PCONV_DATA_DIR per test: caches never leak between tests."""
    monkeypatch.setenv("PCONV_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"
