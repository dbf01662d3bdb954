"""Tests for pconv.notebook.controls: a table row becomes the widget it declares; figures become PNG outputs."""

from __future__ import annotations

import base64

import ipywidgets as widgets
import pytest
from matplotlib.figure import Figure

from pconv.notebook.controls import KINDS, Control, build_controls, png_file_output, png_output

ROWS = (
    Control("lr", "log", "train", "lr", "learning rate", (-6, -1, 0.1)),
    Control("n", "int", "train", "count", "how many", (1, 10)),
    Control("w", "float", "loss", "weight", "a weight", (0, 5)),
    Control("size", "slider", "data", "size", "side", (32, 512, 32)),
    Control("holes", "range", "data", "hole range", "ratio", (0, 1, 0.01)),
    Control("mode", "choice", "train", "mode", "pick one", options=("a", "b")),
    Control("out", "text", "train", "out", "a folder"),
    Control("go", "check", "run", "go on", "tick it"),
)
START = {"lr": 1e-3, "n": 3, "w": 0.5, "size": 64, "holes": (0.1, 0.3), "mode": "b", "out": "x", "go": True}


def test_every_row_becomes_its_widget_with_label_tooltip_range_and_start_value():
    controls = build_controls(ROWS, START)
    assert list(controls) == [row.name for row in ROWS]
    expected = [
        widgets.FloatLogSlider,
        widgets.BoundedIntText,
        widgets.BoundedFloatText,
        widgets.IntSlider,
        widgets.FloatRangeSlider,
        widgets.Dropdown,
        widgets.Text,
        widgets.Checkbox,
    ]
    for row, cls in zip(ROWS, expected):
        w = controls[row.name]
        assert type(w) is cls, row.name
        assert (w.description, w.tooltip) == (row.label, row.tooltip)
        assert w.value == pytest.approx(START[row.name]), row.name
    assert (controls["lr"].min, controls["lr"].max, controls["lr"].step, controls["lr"].base) == (-6, -1, 0.1, 10)
    assert (controls["n"].min, controls["n"].max) == (1, 10)
    assert (controls["size"].min, controls["size"].max, controls["size"].step) == (32, 512, 32)
    assert controls["mode"].options == ("a", "b")
    controls["n"].value = 99  # the bounds hold: a BoundedIntText clamps
    assert controls["n"].value == 10


def test_a_choice_start_value_outside_the_options_is_added():
    (row,) = [r for r in ROWS if r.name == "mode"]
    assert build_controls([row], {"mode": "c"})["mode"].options == ("a", "b", "c")


def test_bad_rows_are_refused_with_the_control_named():
    with pytest.raises(ValueError, match=r"control 'x': kind must be one of .*'slider'.*got 'knob'"):
        build_controls([Control("x", "knob", "train", "x", "")], {"x": 1})
    with pytest.raises(ValueError, match=r"control 'n': no start value given"):
        build_controls(ROWS[1:2], {})
    assert set(KINDS) == {row.kind for row in ROWS}  # the test covers every kind


def test_png_outputs_hold_a_png_image():
    fig = Figure(figsize=(1, 1))
    fig.subplots().plot([0, 1], [1, 0])
    out = png_output(fig, "<line>")
    assert out["output_type"] == "display_data" and out["data"]["text/plain"] == "<line>"
    png = base64.b64decode(out["data"]["image/png"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width = int.from_bytes(png[16:20], "big")  # the IHDR chunk: drawn at fig.dpi, as a cell's figure is
    assert fig.dpi <= width <= 1.4 * fig.dpi  # a 1-inch figure and its tick labels (at 72 dpi: about 85 px)
    assert png_file_output(b"\x89PNG...", "<file>")["data"]["image/png"] == base64.b64encode(b"\x89PNG...").decode()


def test_a_long_label_widens_its_box_instead_of_squeezing_the_number():
    short = Control("a", "int", "train", "lr", "tip", (0, 10))
    long = Control("b", "int", "train", "of which fine-tune", "tip", (0, 10))
    boxes = build_controls([short, long], {"a": 1, "b": 2})
    width = {name: int(w.layout.width.removesuffix("px")) for name, w in boxes.items()}
    assert width["b"] - width["a"] == 7 * (len(long.label) - len(short.label)) and width["a"] >= 80


def test_a_dropdown_is_as_wide_as_its_label_and_its_longest_option():
    short = Control("a", "choice", "mask", "strokes", "tip", options=("thin", "medium"))
    long = Control("b", "choice", "mask", "strokes", "tip", options=("thin", "freeform-long"))
    boxes = build_controls([short, long], {"a": "thin", "b": "thin"})
    width = {name: int(w.layout.width.removesuffix("px")) for name, w in boxes.items()}
    assert width["b"] - width["a"] == 9 * (len("freeform-long") - len("medium"))
    assert width["a"] >= 7 * len("strokes") + 9 * len("medium")  # the label and the option, side by side


def test_a_range_slider_keeps_the_next_control_away_from_its_readout():
    (row,) = [r for r in ROWS if r.kind == "range"]
    widget = build_controls([row], {row.name: (0.1, 0.6)})[row.name]
    right = int(widget.layout.margin.split()[1].removesuffix("px"))
    assert right >= 16, widget.layout.margin
