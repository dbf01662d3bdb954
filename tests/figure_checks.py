"""Checks that a matplotlib figure is readable, as the renderer lays it out (shared by the figure tests).

Each check draws the figure with the Agg renderer (`fig.canvas.draw()`) and reads the window
extents of its artists, in display pixels:
- `overlapping_titles`: pairs of titles (and figure texts) whose boxes intersect;
- `legend_hits`: legends whose box covers a plotted line, bar or image;
- `overlapping_ticks`: neighbouring tick labels of one axis that run into each other;
- `small_texts`: visible texts (titles, axis labels, tick labels, legends) below a size in points;
- `tick_labels`: the labelled ticks inside an axis's view;
- `framed`: whether an image axis shows its four spines.
A test asserts on what they return, so a failure names the texts involved.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.patches import Rectangle
from matplotlib.transforms import Bbox


def draw(fig: Figure) -> Any:
    """Lay the figure out and draw it on an Agg canvas (as savefig would), unless it is drawn and unchanged.

    Returns:
        The renderer, for the artists' `get_window_extent`.
    """
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
        fig.stale = True
    if fig.stale:  # matplotlib marks a figure stale whenever an artist changes, and fresh after a draw
        fig.canvas.draw()
    return fig.canvas.get_renderer()


def _intersect(a: Bbox, b: Bbox, slack: float = 0.5) -> bool:
    """True when boxes a and b share an area wider and taller than `slack` pixels (touching is fine)."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    return w > slack and h > slack


def titles(fig: Figure) -> list[Any]:
    """Every visible, non-empty title of every axis (centre, left, right), the suptitle and texts set on axes."""
    found = [fig._suptitle] if fig._suptitle is not None else []
    for ax in fig.axes:
        found += [ax.title, ax._left_title, ax._right_title, *ax.texts]
    return [t for t in found if t.get_visible() and t.get_text().strip()]


def overlapping_titles(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of titles whose drawn boxes intersect (empty when none does)."""
    renderer = draw(fig)
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in titles(fig)]
    return [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if _intersect(ba, bb)]


def _legends(fig: Figure) -> list[Legend]:
    return list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]


def legend_hits(fig: Figure) -> list[str]:
    """What each legend covers: "<legend> over line/bar/image <label>" for each line point, bar or image under it.

    Lines are checked at their points and at 20 points along each segment between them.
    """
    renderer = draw(fig)
    hits = []
    for legend in _legends(fig):
        box = legend.get_window_extent(renderer)
        name = ", ".join(t.get_text() for t in legend.get_texts())[:40]
        for ax in fig.axes:
            for line in ax.get_lines():
                xy = line.get_transform().transform(np.column_stack(line.get_data()).astype(float).reshape(-1, 2))
                if len(xy) > 1:
                    t = np.linspace(0, 1, 21)[:, None, None]
                    xy = (xy[:-1] * (1 - t) + xy[1:] * t).reshape(-1, 2)
                inside = (xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)
                if inside.any():
                    hits.append(f"{name} over line {line.get_label()}")
            for patch in ax.patches:
                if isinstance(patch, Rectangle) and _intersect(patch.get_window_extent(renderer), box):
                    hits.append(f"{name} over bar {patch.get_label()}")
            for image in ax.images:
                if _intersect(image.get_window_extent(renderer), box):
                    hits.append(f"{name} over an image")
    return hits


def _ticks(axis: Any, view: tuple[float, float]) -> list[Any]:
    """The tick label texts (major and minor) of the ticks inside `view`, as the last draw set them."""
    lo, hi = sorted(view)
    slack = 1e-9 * (hi - lo)
    fig, stale = axis.figure, axis.figure.stale
    found = []
    for minor in (False, True):
        for loc, text in zip(axis.get_ticklocs(minor=minor), axis.get_ticklabels(minor=minor)):
            if lo - slack <= loc <= hi + slack:
                found.append(text)
    fig.stale = stale  # reading the minor ticks marks the figure stale; it changed nothing that is drawn
    return found


def tick_labels(ax: Any) -> tuple[list[str], list[str]]:
    """The labels of the ticks drawn inside the view: (x labels, y labels), major and minor."""
    draw(ax.figure)
    x, y = _ticks(ax.xaxis, ax.get_xlim()), _ticks(ax.yaxis, ax.get_ylim())
    return [t.get_text() for t in x if t.get_visible() and t.get_text().strip()], [
        t.get_text() for t in y if t.get_visible() and t.get_text().strip()
    ]


def overlapping_ticks(fig: Figure) -> list[tuple[str, str]]:
    """Pairs of tick labels of one axis whose drawn boxes intersect (e.g. "1" "2" ... "10" crammed together)."""
    renderer = draw(fig)
    pairs = []
    for ax in fig.axes:
        for axis, view in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            shown = [t for t in _ticks(axis, view) if t.get_visible() and t.get_text().strip()]
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in shown]
            pairs += [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2) if _intersect(ba, bb)]
    return pairs


def small_texts(fig: Figure, min_pt: float = 9) -> list[tuple[str, float]]:
    """Visible texts smaller than `min_pt` points: titles, axis labels, tick labels, legends, figure texts."""
    draw(fig)
    texts = titles(fig) + list(fig.texts)
    for ax in fig.axes:
        texts += [ax.xaxis.label, ax.yaxis.label, *_ticks(ax.xaxis, ax.get_xlim()), *_ticks(ax.yaxis, ax.get_ylim())]
    for legend in _legends(fig):
        texts += [*legend.get_texts(), legend.get_title()]
    shown = [t for t in texts if t.get_visible() and t.get_text().strip()]
    return [(t.get_text(), t.get_fontsize()) for t in shown if t.get_fontsize() < min_pt]


def framed(ax: Any) -> bool:
    """True when the axis is drawn and shows all four spines (a mask's white area then has an edge)."""
    return ax.axison and all(s.get_visible() and s.get_linewidth() > 0 for s in ax.spines.values())


def assert_readable(fig: Figure, min_pt: float = 9) -> None:
    """No two titles or tick labels overlap, no legend covers the data, no text is below `min_pt` points."""
    assert overlapping_titles(fig) == [], f"titles overlap: {overlapping_titles(fig)}"
    assert overlapping_ticks(fig) == [], f"tick labels overlap: {overlapping_ticks(fig)}"
    assert legend_hits(fig) == [], f"a legend covers the data: {legend_hits(fig)}"
    assert small_texts(fig, min_pt) == [], f"texts below {min_pt} pt: {small_texts(fig, min_pt)}"
