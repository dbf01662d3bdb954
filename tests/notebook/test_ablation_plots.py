"""Tests for pconv.notebook.ablation_plots: what is drawn is the table's means and spreads, computed plainly here."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.figure import Figure

from pconv.notebook import plot_seed_bars, plot_seed_lines
from pconv.train.seed_table import SeedTable

SEEDS = {"partial": [(22.0, 20.0), (23.0, 19.0), (24.0, 21.0)], "plain": [(21.0, 18.0), (21.5, 18.5), (22.0, 17.0)]}


def table() -> SeedTable:
    t = SeedTable(
        columns=["1-10%", "10-20%", "all"], formats={"PSNR (dB)": "{:.2f}"}, higher_is_better={"PSNR (dB)": True}
    )
    for name, per_seed in SEEDS.items():
        for a, b in per_seed:
            t.add("PSNR (dB)", name, "1-10%", a)
            t.add("PSNR (dB)", name, "10-20%", b)
            t.add("PSNR (dB)", name, "all", (a + b) / 2)
    t.add("PSNR (dB)", "telea", "1-10%", 25.0)
    t.add("PSNR (dB)", "telea", "10-20%", 19.5)
    t.add("SSIM", "partial", "all", 0.5)
    return t


def mean_std(values):
    m = sum(values) / len(values)
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def test_lines_are_the_means_over_the_bins_with_one_std_bars():
    fig = plot_seed_lines(table(), "PSNR (dB)")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1-10%", "10-20%"]  # "all" is not a bin
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2  # partial and plain; telea has one value: a dashed line, no bars
    line, _, (segments,) = bars[0]
    first = [mean_std([a for a, _ in SEEDS["partial"]]), mean_std([b for _, b in SEEDS["partial"]])]
    assert np.allclose(line.get_ydata(), [m for m, _ in first])
    spans = [seg[:, 1] for seg in segments.get_segments()]  # each bar from mean - std to mean + std
    assert np.allclose([s[1] - s[0] for s in spans], [2 * sd for _, sd in first])
    dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
    assert len(dashed) == 1 and np.allclose(dashed[0].get_ydata(), [25.0, 19.5])
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["partial (n=3)", "plain (n=3)", "telea"]


def test_lines_for_chosen_rows_and_columns():
    fig = plot_seed_lines(table(), "PSNR (dB)", rows=["plain"], columns=["all"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["all"]
    assert np.allclose(ax.get_lines()[0].get_ydata(), [mean_std([(a + b) / 2 for a, b in SEEDS["plain"]])[0]])


def test_bars_one_per_row_and_column_at_the_means():
    fig = plot_seed_bars(table(), "PSNR (dB)", rows=["partial", "plain"])
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    expected = [mean_std([v[j] for v in SEEDS[r]])[0] for j in (0, 1) for r in ("partial", "plain")]
    expected += [mean_std([(a + b) / 2 for a, b in SEEDS[r]])[0] for r in ("partial", "plain")]
    assert np.allclose(heights, expected)  # column by column, a bar per row
    assert [t.get_text() for t in ax.get_xticklabels()] == ["partial", "plain"]
    texts = [t.get_text() for t in ax.texts]
    assert f"{expected[0]:.2f}" in texts and len(texts) == 6
    lo, hi = ax.get_ylim()
    assert lo > 0 and hi > max(heights)  # "data": the axis spans the bars, so small differences show
    assert plot_seed_bars(table(), "PSNR (dB)", ylim="zero").axes[0].get_ylim()[0] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: plot_seed_lines(t, "Dice"), r"no group 'Dice'; its groups are \['PSNR \(dB\)', 'SSIM'\]"),
        (lambda t: plot_seed_bars(t, "PSNR (dB)", rows=["gated"]), r"rows \['gated'\] are not in group"),
        (lambda t: plot_seed_lines(t, "PSNR (dB)", columns=["90%"]), r"columns \['90%'\] are not columns"),
        (lambda t: plot_seed_bars(t, "PSNR (dB)", ylim="log"), "ylim must be 'data' or 'zero'"),
    ],
)
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call(table())
