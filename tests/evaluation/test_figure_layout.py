"""Tests for pconv.evaluation.figure_layout: wrapped titles fit their width, frames, integer steps, log axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
from figure_checks import draw, framed, tick_labels
from matplotlib.figure import Figure

from pconv.evaluation.figure_layout import (
    MAX_INCHES,
    PANEL_INCHES,
    TEXT_PT,
    frame,
    integer_steps,
    panel_grid,
    panel_inches,
    use_log_scale,
    wrap,
)


def drawn_width_inches(text: str, fontsize: float) -> float:
    """The width of `text` as matplotlib draws it on a figure, in inches (the reference for `wrap`)."""
    fig = Figure(figsize=(20, 2), dpi=100)
    t = fig.text(0, 0.5, text, fontsize=fontsize)
    return t.get_window_extent(draw(fig)).width / fig.dpi


@pytest.mark.parametrize(
    "text",
    ["panel-20261207-161350-1: mean 0.123", "a_very_long_run_name_without_any_blank_in_it", "0-10%: input (9% hole)"],
)
def test_wrap_keeps_every_line_within_the_width(text):
    wrapped = wrap(text, 1.0, TEXT_PT, max_lines=10)
    assert "".join(wrapped.split()) == "".join(text.split())  # only line breaks added
    assert "\n" in wrapped  # none of these fits an inch at 9 pt
    for line in wrapped.split("\n"):
        assert drawn_width_inches(line, TEXT_PT) <= 1.0 + 0.02, line
    assert wrap("short", 1.0) == "short"
    assert wrap("two\nlines", 1.0) == "two\nlines"


def test_wrap_breaks_after_hyphens_and_cuts_past_max_lines():
    assert wrap("panel-20261207-161350-1", 1.0).split("\n")[0].endswith("-")
    cut = wrap("word " * 40, 1.0, max_lines=2)
    assert len(cut.split("\n")) == 2 and cut.endswith("...")
    assert drawn_width_inches(cut.split("\n")[-1], TEXT_PT) <= 1.02


def test_panel_inches_fits_the_widest_figure_down_to_a_floor():
    assert panel_inches(2) == PANEL_INCHES
    assert panel_inches(8) * 8 == pytest.approx(MAX_INCHES)
    assert panel_inches(8, reserved=1.0) * 8 == pytest.approx(MAX_INCHES - 1.0)
    assert 1.0 < panel_inches(40) < MAX_INCHES / 10  # a floor: many columns grow past MAX_INCHES
    fig, axes = panel_grid(2, 5)
    assert axes.shape == (2, 5) and tuple(fig.get_size_inches()) == pytest.approx(
        (5 * panel_inches(5), 2 * panel_inches(5))
    )
    assert not any(ax.axison for ax in axes.flat)
    wide, _ = panel_grid(3, 2, size=3.0, aspect=2 / 3)  # rows of 2:3 images: no blank bands between them
    assert tuple(wide.get_size_inches()) == pytest.approx((6.0, 6.0))
    with pytest.raises(ValueError, match="aspect must be positive"):
        panel_grid(1, 1, aspect=0)


def test_frame_shows_four_spines_and_no_ticks():
    fig, axes = panel_grid(1, 2)
    frame(axes[0, 0])
    assert framed(axes[0, 0]) and not framed(axes[0, 1])
    assert list(axes[0, 0].get_xticks()) == [] and list(axes[0, 0].get_yticks()) == []


def test_integer_steps_labels_whole_steps_only():
    fig = Figure(figsize=(3, 2))
    ax = fig.subplots()
    ax.plot([1, 2, 3], [1.0, 0.8, 0.5])
    draw(fig)
    assert any(float(t) % 1 for t in ax.get_xticks() if 1 <= t <= 3)  # matplotlib's own choice: 1.5, 2.5
    integer_steps(ax)
    xs, ys = tick_labels(ax)
    assert len(xs) >= 2 and len(ys) >= 2
    assert all(float(t) % 1 == 0 for t in ax.get_xticks())
    ax.clear()
    ax.plot([3], [1.0], "o")  # one point: a view of 2.8-3.2 held one whole step
    integer_steps(ax)
    xs, _ = tick_labels(ax)
    assert len(xs) >= 2 and all(float(t) % 1 == 0 for t in ax.get_xticks())


def test_use_log_scale_only_over_two_decades():
    assert use_log_scale([1.0, 0.5, 0.01])
    assert not use_log_scale([1.2, 1.0])  # a short run's loss
    assert not use_log_scale([1.0, 0.0, 0.001])  # a zero cannot go on a log axis
    assert not use_log_scale([])
    assert use_log_scale([2e-4, 5e-5, 1e-6, float("nan")])
