"""pconv.notebook.shown_once: a widget shows itself in the running cell once, and again in a later cell."""

from __future__ import annotations

import IPython
import IPython.display
import ipywidgets as widgets

from pconv.notebook import inpaint_studio
from pconv.notebook.shown_once import ShownOnce


class _Box(ShownOnce, widgets.VBox):
    """Any widget can have it."""


class _Shell:
    """Just enough of an IPython kernel shell: a kernel, and the number of the cell that runs."""

    def __init__(self):
        self.kernel, self.execution_count = object(), 7


def test_inpaint_studio_shows_itself_once_in_a_notebook_cell(monkeypatch, photo):
    shown, shell = [], _Shell()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj._repr_mimebundle_()))
    studio = inpaint_studio(photo, size=32)
    assert len(shown) == 1 and "application/vnd.jupyter.widget-view+json" in shown[0]
    assert studio._repr_mimebundle_() == {}  # `studio` as the cell's last line: not a second copy
    shell.execution_count = 8
    assert "application/vnd.jupyter.widget-view+json" in studio._repr_mimebundle_()  # a later cell shows it


def test_a_plain_widget_shows_itself_once_per_cell(monkeypatch):
    shown, shell = [], _Shell()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    box = _Box()
    assert "application/vnd.jupyter.widget-view+json" in box._repr_mimebundle_()  # never displayed: shown as usual
    box.display_in_notebook()
    assert shown == [box] and box._repr_mimebundle_() == {}  # the same cell's echo is skipped, once
    assert "application/vnd.jupyter.widget-view+json" in box._repr_mimebundle_()


def test_outside_a_kernel_nothing_is_displayed(monkeypatch):
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)  # a script
    _Box().display_in_notebook()
    monkeypatch.setattr(IPython, "get_ipython", lambda: type("Terminal", (), {"kernel": None})())  # a terminal
    box = _Box()
    box.display_in_notebook()
    assert shown == [] and "application/vnd.jupyter.widget-view+json" in box._repr_mimebundle_()
