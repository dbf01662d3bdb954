"""The package's top level: every advertised name resolves, and importing it stays light."""

import subprocess
import sys

import pytest

import pconv


@pytest.mark.parametrize("name", pconv.__all__)
def test_every_public_name_resolves(name):
    assert getattr(pconv, name) is not None


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pconv.nope  # noqa: B018


def test_import_does_not_load_kaggle_or_widgets():
    code = "import sys, pconv; print(any(m in sys.modules for m in ('kaggle', 'ipywidgets', 'pconv.kaggle')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
