"""Notebook controls declared as tables: one `Control` row per widget, built by `build_controls`.

The training panel (`pconv.notebook.panel`) and the mask explorer (`pconv.notebook.widgets`) state each of
their controls once, as a row: the name it is found under, the widget kind, its range and
step, where its value goes (a `TrainConfig` field, a model or loss argument, the data ...)
and a tooltip. Start values are not part of the table: they come from the objects that own
the defaults (`TrainConfig`, `InpaintingLoss`, `irregular_mask`) when a widget is built.
`png_output` turns a matplotlib Figure into an Output widget's content without any IPython
display hook, so a figure drawn from a background thread lands in its widget and nowhere else.
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as widgets

__all__ = ["Control", "KINDS", "RENDER_LOCK", "build_controls", "png_output", "png_file_output"]

RENDER_LOCK = threading.RLock()  # one figure drawn at a time: matplotlib's text and font caches are shared


@dataclass(frozen=True)
class Control:
    """One row of a control table.

    Attributes:
        name: key in the widget's `.controls` dict (and the keyword its value is passed as).
        kind: one of `KINDS`: "log" (FloatLogSlider, bounds are base-10 exponents), "int"
            (BoundedIntText), "float" (BoundedFloatText), "slider" (IntSlider), "range"
            (FloatRangeSlider), "choice" (Dropdown), "text" (Text), "check" (Checkbox).
        target: where the value goes, e.g. "train" (a `TrainConfig` field), "model", "data",
            "loss", "run" (the widget itself); the widget that owns the table reads it.
        label: the widget's `description`, kept stable (browser tests find controls by it).
        tooltip: what the control does, shown on hover.
        bounds: (min, max) or (min, max, step) for the numeric kinds.
        options: the choices of a "choice" control (a start value outside them is added).
    """

    name: str
    kind: str
    target: str
    label: str
    tooltip: str
    bounds: tuple[float, ...] = ()
    options: tuple[Any, ...] = ()


_STYLE = {"description_width": "initial"}
GAP_PX = 24  # space after a range slider's readout, before the next control
_SLIDER = {"continuous_update": False, "style": _STYLE}


def _box(row: Control) -> dict[str, Any]:
    """A number box or dropdown wide enough for its label and about 8 digits (a long label squeezed it to nothing)."""
    return {"style": _STYLE, "layout": {"width": f"{80 + 7 * len(row.label)}px"}}


def _dropdown(row: Control, options: list[Any], value: Any) -> widgets.Dropdown:
    """A dropdown wide enough for its label and its longest option (the mask explorer showed "freeforn")."""
    width = 60 + 7 * len(row.label) + 9 * max(len(str(o)) for o in options)
    return widgets.Dropdown(value=value, options=options, style=_STYLE, layout={"width": f"{width}px"})


def _range_slider(row: Control, value: Any) -> widgets.FloatRangeSlider:
    """A range slider with room on its right: its readout ("0.01 – 0.60") ends at the widget's edge,
    where the next control's label sat against it (the mask explorer's "strokes")."""
    return widgets.FloatRangeSlider(value=value, **_range(row), **_SLIDER, layout={"margin": f"2px {GAP_PX}px 2px 2px"})


def _range(row: Control) -> dict[str, float]:
    keys = ("min", "max", "step")[: len(row.bounds)]
    return dict(zip(keys, row.bounds))


KINDS = {
    "log": lambda row, v: widgets.FloatLogSlider(value=v, base=10, readout_format=".1e", **_range(row), **_SLIDER),
    "int": lambda row, v: widgets.BoundedIntText(value=v, **_range(row), **_box(row)),
    "float": lambda row, v: widgets.BoundedFloatText(value=v, **_range(row), **_box(row)),
    "slider": lambda row, v: widgets.IntSlider(value=v, **_range(row), **_SLIDER),
    "range": _range_slider,
    "choice": lambda row, v: _dropdown(row, list(row.options) + ([v] if v not in row.options else []), v),
    "text": lambda row, v: widgets.Text(value=v, style=_STYLE),
    "check": lambda row, v: widgets.Checkbox(value=v, indent=False),
}


def build_controls(table: Sequence[Control], values: Mapping[str, Any]) -> dict[str, widgets.Widget]:
    """One widget per row of `table`, starting at `values[row.name]`.

    Args:
        table: the rows, in display order.
        values: a start value for every row's name.

    Returns:
        {name: widget}, in table order; each widget's `description` is the row's label and
        its `tooltip` the row's tooltip.

    Raises:
        ValueError: a row of unknown kind, or a row without a start value.
    """
    controls = {}
    for row in table:
        if row.kind not in KINDS:
            raise ValueError(f"control {row.name!r}: kind must be one of {sorted(KINDS)}, got {row.kind!r}")
        if row.name not in values:
            raise ValueError(f"control {row.name!r}: no start value given (values has {sorted(values)})")
        widget = KINDS[row.kind](row, values[row.name])
        widget.description, widget.tooltip = row.label, row.tooltip
        controls[row.name] = widget
    return controls


def png_output(fig: Any, text: str = "<figure>") -> dict[str, Any]:
    """A display_data output holding `fig` (a matplotlib Figure) as PNG, for `Output.outputs`.

    Drawn as the notebook draws a figure that is a cell's value (at `fig.dpi`, trimmed to its
    content), so its text is as large as in any other figure (at 72 dpi it was a third smaller).
    """
    buf = io.BytesIO()
    with RENDER_LOCK:
        fig.savefig(buf, format="png", dpi=fig.dpi, bbox_inches="tight")
    return png_file_output(buf.getvalue(), text)


def png_file_output(png: bytes, text: str = "<figure>") -> dict[str, Any]:
    """A display_data output holding the PNG bytes `png` (e.g. a sample grid the trainer saved)."""
    data = {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": text}
    return {"output_type": "display_data", "data": data, "metadata": {}}
