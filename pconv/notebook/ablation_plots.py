"""Figures of notebook 07's ablations: scores over seeds with their spread, as lines or as bars.

- `plot_seed_lines`: one group of a `pconv.train.seed_table.SeedTable` (e.g. "PSNR (dB)" per
  hole-ratio bin, Liu et al. 2018, arXiv:1804.07723, Table 1) as one line per row, the mean over
  seeds with an error bar of one standard deviation; rows with a single value (a deterministic
  classical fill) are drawn dashed, without bars.
- `plot_seed_bars`: a group as grouped bars, a bar per column within each row: the hole-value
  sensitivity (Fig. 2 e/f: the same networks with their holes at 0, 0.5 and the ImageNet mean)
  and the border Dice of partial-convolution padding (arXiv:1811.11718).

Like `pconv.evaluation.figures`, each function builds a `matplotlib.figure.Figure` directly (it
renders inline as a cell's value), at most `MAX_INCHES` wide with text no smaller than `TEXT_PT`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from pconv.evaluation.figure_layout import MAX_INCHES, TEXT_PT

__all__ = ["plot_seed_lines", "plot_seed_bars"]


def _rows(table: Any, group: str, rows: Sequence[str] | None) -> list[str]:
    """The rows of `group` to draw, in table order (or the order of `rows`), refusing what is not there."""
    have = [r for g, r in table.cells if g == group]
    if not have:
        groups = list(dict.fromkeys(g for g, _ in table.cells))
        raise ValueError(f"the table has no group {group!r}; its groups are {groups}")
    if rows is None:
        return have
    missing = [r for r in rows if r not in have]
    if missing:
        raise ValueError(f"rows {missing} are not in group {group!r}; it has {have}")
    return list(rows)


def _stats(table: Any, group: str, row: str, columns: Sequence[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Means and standard deviations (0 where there is one value) over `columns`, and the most values a cell has."""
    mean = np.array([table.mean(group, row, c) for c in columns], dtype=float)
    std = np.array([table.std(group, row, c) for c in columns], dtype=float)
    n = max((len(table.values(group, row, c)) for c in columns), default=0)
    return mean, np.nan_to_num(std, nan=0.0), n


def plot_seed_lines(
    table: Any, group: str, *, rows: Sequence[str] | None = None, columns: Sequence[str] | None = None
) -> Figure:
    """One line per row over the columns: the mean over seeds, an error bar of one standard deviation.

    Args:
        table: a `SeedTable` (e.g. `score_inpainting(...).table`).
        group: which of its groups, e.g. "PSNR (dB)" or "SSIM"; it titles the y axis.
        rows: the rows to draw, in this order; None: every row of the group.
        columns: the columns along x; None: every column but "all" (the per-bin view).

    Returns:
        The Figure: one axis, a line per row, the legend right of it. Rows with one value per
        cell (a deterministic fill) are dashed and have no bars.
    """
    names = _rows(table, group, rows)
    cols = [c for c in table.columns if c != "all"] if columns is None else list(columns)
    unknown = [c for c in cols if c not in table.columns]
    if unknown or not cols:
        raise ValueError(f"columns {unknown or cols} are not columns of the table ({table.columns})")
    fig = Figure(figsize=(min(MAX_INCHES, 3.0 + 1.1 * len(cols)), 3.6), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(cols))
    handles, labels = [], []
    for name in names:
        mean, std, n = _stats(table, group, name, cols)
        if n > 1:
            handles.append(ax.errorbar(x, mean, yerr=std, fmt="-o", ms=4, capsize=3))
            labels.append(f"{name} (n={n})")
        else:
            handles.append(ax.plot(x, mean, "--", marker=".", alpha=0.8)[0])
            labels.append(name)
    ax.set_xticks(x, cols, rotation=30 if len(cols) > 4 else 0, fontsize=TEXT_PT)
    ax.tick_params(labelsize=TEXT_PT)
    ax.set_ylabel(group, fontsize=TEXT_PT)
    ax.grid(alpha=0.3)
    fig.legend(handles, labels, loc="outside right upper", fontsize=TEXT_PT)  # in the table's order
    return fig


def plot_seed_bars(table: Any, group: str, *, rows: Sequence[str] | None = None, ylim: str = "data") -> Figure:
    """Grouped bars: a group of bars per row, a bar per column, the mean over seeds and one standard deviation.

    Args:
        table: a `SeedTable` (e.g. `hole_value_sensitivity(...).table`, `score_segmentation(...)`).
        group: which of its groups (the y axis's title).
        rows: the rows to draw, in this order; None: every row of the group.
        ylim: "data": the y axis spans the bars' range (small differences stay visible);
            "zero": it starts at 0.

    Returns:
        The Figure: one axis, each bar labelled with its mean, the legend (the columns) right of it.
    """
    if ylim not in ("data", "zero"):
        raise ValueError(f"ylim must be 'data' or 'zero', got {ylim!r}")
    names = _rows(table, group, rows)
    cols = list(table.columns)
    fig = Figure(figsize=(min(MAX_INCHES, 3.5 + 0.45 * len(cols) * len(names)), 3.6), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(cols)
    fmt = table.formats.get(group, "{:.3f}")
    lows, highs = [], []
    for j, col in enumerate(cols):
        stats = [_stats(table, group, name, [col]) for name in names]
        mean = np.array([s[0][0] for s in stats])
        std = np.array([s[1][0] for s in stats])
        x = np.arange(len(names)) + (j - (len(cols) - 1) / 2) * width
        bars = ax.bar(x, mean, width, yerr=std, capsize=3, label=col)
        ax.bar_label(bars, [fmt.format(m) if math.isfinite(m) else "" for m in mean], fontsize=TEXT_PT, padding=2)
        lows.append(np.nanmin(mean - std))
        highs.append(np.nanmax(mean + std))
    if ylim == "data" and all(map(math.isfinite, lows + highs)):
        lo, hi = min(lows), max(highs)
        pad = 0.15 * (hi - lo) or 0.05 * max(abs(hi), 1e-6)
        ax.set_ylim(lo - pad, hi + 2 * pad)  # room above the bars for their labels
    ax.set_xticks(np.arange(len(names)), names, fontsize=TEXT_PT)
    ax.tick_params(labelsize=TEXT_PT)
    ax.set_ylabel(group, fontsize=TEXT_PT)
    ax.grid(axis="y", alpha=0.3)
    fig.legend(loc="outside right upper", fontsize=TEXT_PT)
    return fig
