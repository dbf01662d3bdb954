"""A widget that shows itself in the running notebook cell, once.

`inpaint_studio()` displays the studio it opens, so that `inpaint_studio()` alone in a cell
shows it. A notebook then often writes `studio = inpaint_studio(); studio`, and the cell's
echo of its last expression would show a second, live copy of the same widgets. A widget with
`ShownOnce` remembers the cell it displayed itself in and gives that cell's echo nothing;
a later cell that names it shows it again, as any widget.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ShownOnce"]


class ShownOnce:
    """Mixin for an ipywidgets widget: `display_in_notebook()` shows it, and that cell's echo is skipped.

    Put it before the widget class (`class Studio(ShownOnce, widgets.VBox)`), so that its
    `_repr_mimebundle_` runs first and hands every other cell to the widget's own.
    """

    _shown_in: int | None = None  # the execution count of the cell it displayed itself in

    def display_in_notebook(self) -> None:
        """Display in the running notebook cell, if any (a terminal or a script: nothing happens)."""
        try:  # IPython comes with ipywidgets; imported here as the display is asked for
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return
        shell = get_ipython()
        if shell is None or getattr(shell, "kernel", None) is None:
            return  # a terminal or a script: nothing to show in
        display(self)
        self._shown_in = shell.execution_count

    def _repr_mimebundle_(self, **kwargs: Any) -> dict | None:
        from IPython import get_ipython

        shell = get_ipython()
        if self._shown_in is not None and shell is not None and shell.execution_count == self._shown_in:
            self._shown_in = None  # `studio = inpaint_studio(); studio` in one cell: shown once already
            return {}
        return super()._repr_mimebundle_(**kwargs)
