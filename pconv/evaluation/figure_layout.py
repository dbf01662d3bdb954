"""How every pconv figure is laid out so that it stays readable where a notebook shows it.

A notebook shows a figure at its size (`fig.dpi`, 100) unless it is wider than the output
area, which scales it down, text and all: a 16-inch grid of 8-pt titles read about 6 px high.
So figures are at most `MAX_INCHES` wide, no text is set below `TEXT_PT`, titles are wrapped to
their panel's width (`wrap`) instead of running into the next one, masks get a frame (their
white, valid area would merge into the page), step axes get integer ticks, and a log scale is
used only where at least two decades, and so two labelled ticks, are in view.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator

__all__ = [
    "FRAME_GREY",
    "MAX_INCHES",
    "PANEL_INCHES",
    "TEXT_PT",
    "frame",
    "integer_steps",
    "panel_grid",
    "panel_inches",
    "use_log_scale",
    "wrap",
]

TEXT_PT = 9  # the smallest text of any figure: titles, labels, ticks, legends
MAX_INCHES = 12.0  # the widest figure: ~1200 px at 100 dpi, about a notebook's output area
PANEL_INCHES = 2.4  # an image panel's side when there is room
MIN_PANEL_INCHES = 1.1  # ... and when there is not: a grid of many columns grows past MAX_INCHES instead
FRAME_GREY = "0.35"  # the frame around a mask


def panel_inches(cols: int, reserved: float = 0.0) -> float:
    """The side of `cols` image panels in a row that fits `MAX_INCHES` (less `reserved`, e.g. a colour bar)."""
    return float(np.clip((MAX_INCHES - reserved) / max(cols, 1), MIN_PANEL_INCHES, PANEL_INCHES))


def panel_grid(rows: int, cols: int, size: float | None = None, aspect: float = 1.0) -> tuple[Figure, np.ndarray]:
    """A Figure of rows x cols image panels, `size` inches wide (default `panel_inches(cols)`), axes off.

    Args:
        aspect: the panels' height over their width (an image's H / W), so that a row of
            wide images is not padded with blank space above and below.

    Returns:
        (figure, axes of shape (rows, cols)).
    """
    if not aspect > 0:
        raise ValueError(f"aspect must be positive (an image's height over its width), got {aspect}")
    size = panel_inches(cols) if size is None else size
    fig = Figure(figsize=(cols * size, rows * size * aspect), layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False))
    for ax in axes.flat:
        ax.set_axis_off()
    return fig, axes


def frame(ax: Axes) -> None:
    """A thin grey frame around an image panel and no ticks, so an all-white (all-valid) mask still shows."""
    ax.set_axis_on()
    ax.set(xticks=[], yticks=[])
    for spine in ax.spines.values():
        spine.set(visible=True, color=FRAME_GREY, linewidth=1.0)


def integer_steps(ax: Axes) -> None:
    """Ticks at whole steps on the x axis: a run of 10 steps is not labelled 2.5, 7.5. Call it after plotting.

    A view narrower than two steps (one point, at step 3) is widened to two, so that it holds
    two whole steps to label (the locator falls back to fractions otherwise).
    """
    lo, hi = ax.get_xlim()
    if hi - lo < 2:
        ax.set_xlim((lo + hi) / 2 - 1, (lo + hi) / 2 + 1)
    ax.xaxis.set_major_locator(MaxNLocator(nbins="auto", integer=True))  # "auto": as many as the width holds


def use_log_scale(values: Sequence[float]) -> bool:
    """True when `values` (e.g. losses, learning rates) span at least two decades, all > 0.

    Then two powers of ten lie in view and the log axis has two labelled ticks; over a
    narrower span a linear axis reads better (a short run's loss would get one label).
    """
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=np.float64)
    return bool(v.size and v.min() > 0 and v.max() / v.min() >= 100)


@functools.lru_cache(maxsize=1)
def _renderer():
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(8, 8, 72)  # at 72 dpi a pixel is a point


def _width(text: str, fontsize: float) -> float:
    """Width of one line of `text` in points at `fontsize`, as matplotlib's Agg renderer lays it out."""
    return _renderer().get_text_width_height_descent(text, FontProperties(size=fontsize), ismath=False)[0]


_BREAK = re.compile(r"(?<=[\s\-_/,:])")  # a line may break after a blank, -, _, /, comma or colon


def wrap(text: str, inches: float, fontsize: float = TEXT_PT, max_lines: int = 3) -> str:
    """`text` with line breaks so that no line is wider than `inches` at `fontsize` (a title that fits its panel).

    Lines break after blanks and - _ / , : where they can, inside a word where they must;
    past `max_lines` lines the text is cut and ends in "...". Existing line breaks are kept.
    """
    limit, lines = inches * 72, []
    for paragraph in text.split("\n"):
        line = ""
        for token in _BREAK.split(paragraph):
            while _width(line + token, fontsize) > limit:
                if line.strip():
                    lines.append(line.rstrip())
                    line, token = "", token.lstrip()
                    continue
                cut = max(1, next((k for k in range(len(token), 0, -1) if _width(token[:k], fontsize) <= limit), 1))
                lines.append(token[:cut])
                token = token[cut:]
            line += token
        lines.append(line.rstrip())
    if len(lines) > max_lines:
        last = lines[max_lines - 1]
        while last and _width(last + "...", fontsize) > limit:
            last = last[:-1]
        lines = lines[: max_lines - 1] + [last.rstrip() + "..."]
    return "\n".join(lines)
