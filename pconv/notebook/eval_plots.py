"""Figures that compare inpainting methods: Liu et al. 2018 (arXiv:1804.07723), Table 1 and Fig. 5, as pictures.

- `plot_report`: per-bin PSNR and SSIM of an `InpaintingReport`, one line per method;
- `show_fills`: every method's composite side by side, between the masked input and the truth;
- `show_errors`: |composite - truth| per method, on one colour scale;
- `show_worst`: the lowest-PSNR composites of each method;
- `sample_slider`: a slider over the sample grids a training run saved (`samples/step_*.png`).

A method that is not there (OpenCV's fills without OpenCV) is left out, never an error:
the figures draw what they are given. Like `pconv.evaluation.figures`, every function builds a
`matplotlib.figure.Figure` directly, which renders inline as a cell's value, laid out by
`pconv.evaluation.figure_layout`: a method's name heads its column once, wrapped to the panel's
width, so that no title runs into the next, and legends sit beside the axes, off the lines.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from pconv.evaluation import METRICS, psnr
from pconv.evaluation.figure_layout import TEXT_PT, panel_grid, panel_inches, wrap
from pconv.evaluation.figures import HOLE_GREY, as_batch

__all__ = ["plot_report", "show_fills", "show_errors", "show_worst", "sample_slider"]

_TITLES = {key: title for key, title, _, _, _ in METRICS}  # "PSNR (dB)", "SSIM", "L1 (%)": the tables' headings
_SCALE = {key: scale for key, _, _, scale, _ in METRICS}  # L1 in percent, as in the paper's Table 1


def plot_report(report: Any, metrics: Sequence[str] = ("psnr", "ssim"), methods: Sequence[str] | None = None) -> Figure:
    """Per-bin scores as lines, one axis per metric and one line per method.

    Args:
        report: an `InpaintingReport` (`evaluate_inpainting`, `Comparison.report()`).
        metrics: any of "psnr", "ssim", "l1".
        methods: which methods to draw, in this order; names the report does not have
            (e.g. "telea" without OpenCV) are skipped. None: every method of the report.

    Returns:
        The Figure: one axis per metric; x = the bins that hold images, one line (with
        markers) per method drawn; the legend right of the axes.
    """
    unknown = [m for m in metrics if m not in _TITLES]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(_TITLES)}")
    names = [m for m in (report.methods if methods is None else methods) if m in report.results]
    if not names:
        raise ValueError(f"none of the methods {list(methods or [])} is in the report ({report.methods})")
    bins = [b for b in report.bins if any(report.results[m][b]["n"] for m in names)]
    if not bins:
        raise ValueError("the report holds no images in any bin")
    fig = Figure(figsize=(4.2 * len(metrics), 3.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    x = np.arange(len(bins))
    for ax, key in zip(axes, metrics):
        for name in names:
            y = [report.results[name][b][key] * _SCALE[key] if report.results[name][b]["n"] else np.nan for b in bins]
            ax.plot(x, y, "-o", ms=4, label=name)
        ax.set_xticks(x, bins, rotation=30 if len(bins) > 4 else 0, fontsize=TEXT_PT)
        ax.set(xlabel="hole ratio", title=_TITLES[key])
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()  # beside the axes: inside, it hid a line
    fig.legend(handles, [wrap(t, 2.2) for t in labels], loc="outside right upper", fontsize=TEXT_PT)
    return fig


def _fill_stack(image: Any, mask: Any, fills: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, dict]:
    """Image (N, H, W, 3), valid (N, H, W, 1) bool and {method: composite (N, H, W, 3)}; None fills dropped."""
    img, msk = as_batch(image, 3, "image"), as_batch(mask, 1, "mask")
    if len(msk) not in (1, len(img)) or msk.shape[1:3] != img.shape[1:3]:
        raise ValueError(f"mask {msk.shape[:3]} does not match image {img.shape[:3]}")
    valid = np.broadcast_to(msk, img.shape[:3] + (1,)) > 0.5
    comps = {}
    for name, fill in fills.items():
        if fill is None:  # a method that is not available here
            continue
        out = np.clip(as_batch(fill, 3, f"fills[{name!r}]"), 0, 1)
        if out.shape != img.shape:
            raise ValueError(f"fills[{name!r}] has shape {out.shape}, the image {img.shape} (both N, H, W, 3)")
        comps[name] = np.where(valid, img, out)  # composite: known pixels from the image
    if not comps:
        raise ValueError("fills is empty: pass {method: composite (N, 3, H, W)}")
    return img, valid, comps


def _psnr_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB of two (N, H, W, C) stacks in [0, 1], by `pconv.evaluation.metrics.psnr`."""
    return psnr(torch.tensor(a).permute(0, 3, 1, 2), torch.tensor(b).permute(0, 3, 1, 2)).numpy()


def _label(titles: Sequence[str] | None, r: int) -> str:
    return f"{titles[r]}: " if titles is not None and r < len(titles) else ""


def _head(name: str, r: int, size: float) -> str:
    """A method's name over its column: on the first row only, wrapped to the panel (`size` inches)."""
    return f"{wrap(name, 0.95 * size)}\n" if r == 0 else ""


def show_fills(
    image: Any, mask: Any, fills: Mapping[str, Any], *, max_rows: int = 4, titles: Sequence[str] | None = None
) -> Figure:
    """Rows of masked input | each method's composite (PSNR in the title) | ground truth.

    Args:
        image: (N, 3, H, W) ground truth in [0, 1] (tensor or array; (3, H, W) for one).
        mask: (N, 1, H, W), 1 = valid, 0 = hole (drawn light grey in the input).
        fills: {method: (N, 3, H, W)} composites or raw outputs in [0, 1] (known pixels are
            taken from `image` either way); a None value (method not available) is skipped.
        max_rows: show at most this many images.
        titles: optional per-row labels (e.g. hole bins) put before the input's title.

    Returns:
        The Figure, 2 + len(fills) axes per row; a method's panel is titled "<PSNR> dB", in
        the first row "<name>\n<PSNR> dB" (the name wrapped to the panel's width).
    """
    img, valid, comps = _fill_stack(image, mask, fills)
    rows = min(len(img), max_rows)
    size = panel_inches(len(comps) + 2)
    fig, axes = panel_grid(rows, len(comps) + 2, size)
    db = {name: _psnr_rows(c[:rows], img[:rows]) for name, c in comps.items()}
    for r in range(rows):
        panels = [(np.where(valid[r], img[r], HOLE_GREY), f"{_label(titles, r)}input ({1 - valid[r].mean():.0%} hole)")]
        panels += [(c[r], _head(name, r, size) + f"{db[name][r]:.2f} dB") for name, c in comps.items()]
        panels.append((img[r], "ground truth"))
        for ax, (pic, title) in zip(axes[r], panels):
            ax.imshow(pic, interpolation="nearest")
            ax.set_title(wrap(title, 0.95 * size, max_lines=4), fontsize=TEXT_PT)
    return fig


def show_errors(
    image: Any,
    mask: Any,
    fills: Mapping[str, Any],
    *,
    max_rows: int = 4,
    titles: Sequence[str] | None = None,
    vmax: float | None = None,
) -> Figure:
    """Error heatmaps |composite - truth| (mean over colour channels) per method, on one colour scale.

    Known pixels are exact in every composite, so all error sits in the holes (outlined).

    Args:
        image, mask, fills, max_rows, titles: as in `show_fills`.
        vmax: the top of the colour scale; None: the 99th percentile of the hole errors shown.

    Returns:
        The Figure, 1 + len(fills) axes per row (the masked input, then one map per method),
        and one colour bar; a map is titled "mean <hole error>", in the first row
        "<name>\nmean <hole error>".
    """
    img, valid, comps = _fill_stack(image, mask, fills)
    rows = min(len(img), max_rows)
    errors = {name: np.abs(c[:rows] - img[:rows]).mean(-1) for name, c in comps.items()}  # (rows, H, W)
    holes = ~valid[:rows, ..., 0]
    if vmax is None:
        shown = np.concatenate([e[holes] for e in errors.values()]) if holes.any() else np.zeros(1)
        vmax = max(float(np.percentile(shown, 99)), 1e-3)
    size = panel_inches(len(comps) + 1, reserved=1.0)  # the colour bar and its label take about an inch
    fig, axes = panel_grid(rows, len(comps) + 1, size)
    image_ax = None
    for r in range(rows):
        axes[r, 0].imshow(np.where(valid[r], img[r], HOLE_GREY), interpolation="nearest")
        axes[r, 0].set_title(wrap(f"{_label(titles, r)}input", 0.95 * size), fontsize=TEXT_PT)
        for ax, (name, err) in zip(axes[r, 1:], errors.items()):
            image_ax = ax.imshow(err[r], cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
            if holes[r].any() and not holes[r].all():
                ax.contour(holes[r].astype(float), levels=[0.5], colors="cyan", linewidths=0.5)
            mean = err[r][holes[r]].mean() if holes[r].any() else 0
            ax.set_title(_head(name, r, size) + f"mean {mean:.3f}", fontsize=TEXT_PT)
    fig.colorbar(image_ax, ax=axes[:, 1:].ravel().tolist(), shrink=0.8, label="|composite - truth|")
    return fig


def show_worst(
    image: Any, mask: Any, fills: Mapping[str, Any], *, n: int = 4, titles: Sequence[str] | None = None
) -> Figure:
    """The `n` lowest-PSNR composites of each method: a row per method, worst first.

    Args:
        image, mask, fills: as in `show_fills`.
        n: images per method.
        titles: optional per-image labels (e.g. hole bins), indexed like `image`.

    Returns:
        The Figure, one row of min(n, N) axes per method, the method's name at its left; the
        holes are outlined and each title gives the image's index, label and PSNR.
    """
    img, valid, comps = _fill_stack(image, mask, fills)
    cols = min(n, len(img))
    if cols < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    size = panel_inches(cols, reserved=0.4)  # the methods' names up the left edge
    fig, axes = panel_grid(len(comps), cols, size)
    for row, (name, c) in zip(axes, comps.items()):
        scores = _psnr_rows(c, img)
        for ax, k in zip(row, np.argsort(scores, kind="stable")[:cols]):
            ax.imshow(c[k], interpolation="nearest")
            hole = ~valid[k, ..., 0]
            if hole.any() and not hole.all():
                ax.contour(hole.astype(float), levels=[0.5], colors="red", linewidths=0.5)
            label = f" {titles[k]}" if titles is not None and k < len(titles) else ""
            ax.set_title(wrap(f"#{k}{label}, {scores[k]:.2f} dB", 0.95 * size), fontsize=TEXT_PT)
        # the method names the row, written up the left edge (a run's name is too long for a title)
        up = wrap(name, 0.9 * size, max_lines=2)
        row[0].text(-0.04, 0.5, up, transform=row[0].transAxes, rotation=90, ha="right", va="center", fontsize=TEXT_PT)
    return fig


_STEP = re.compile(r"^step_(\d+)\.png$")


def _samples(run: Path) -> list[tuple[int, Path]]:
    found = [(int(m.group(1)), p) for p in (run / "samples").glob("step_*.png") if (m := _STEP.match(p.name))]
    return sorted(found)


def sample_slider(runs: str | os.PathLike | Sequence[str | os.PathLike]) -> Any:
    """A slider over the sample grids that training saved (`<run>/samples/step_*.png`), newest shown first.

    Building it lists the files and reads one PNG; moving the slider reads the next.
    With several runs a dropdown picks the run by its folder's name (its parent's too when two
    runs share a name), and the full path of the run shown is written under it.

    Args:
        runs: a run folder (a Trainer's `out`), or several.

    Returns:
        An ipywidgets VBox: [run dropdown and full path (several runs only), step slider, image]; when no
        run holds a sample grid, a VBox with one line that says so (the trainer writes
        them every `sample_every` steps) and names the folders looked at.
    """
    folders = [Path(runs)] if isinstance(runs, (str, os.PathLike)) else [Path(r) for r in runs]
    found = {str(f): s for f in folders if (s := _samples(f))}
    if not found:  # a note, not an error: a notebook's Run All goes on to its next cell
        note = (
            f"No samples/step_*.png in {', '.join(str(f) for f in folders) or 'no folder'}: the trainer saves "
            "a sample grid every `sample_every` steps (TrainConfig)."
        )
        return widgets.VBox([widgets.HTML(html.escape(note))])

    def steps(run: str) -> list[tuple[str, Path]]:
        return [(str(step), path) for step, path in found[run]]

    first = next(iter(found))
    names = [Path(run).name for run in found]
    labels = [
        f"{Path(run).parent.name}/{Path(run).name}" if names.count(Path(run).name) > 1 else Path(run).name
        for run in found
    ]
    picker = widgets.Dropdown(options=list(zip(labels, found)), value=first, description="run")
    where = widgets.HTML(html.escape(first))
    slider = widgets.SelectionSlider(
        options=steps(first), value=found[first][-1][1], description="step", continuous_update=False
    )
    picture = widgets.Image(format="png")

    def show_run(change: Any = None) -> None:
        where.value = html.escape(picker.value)
        slider.options = steps(picker.value)
        slider.value = found[picker.value][-1][1]

    def show_step(change: Any = None) -> None:
        if slider.value is not None:
            picture.value = Path(slider.value).read_bytes()

    slider.observe(show_step, names="value")
    picker.observe(show_run, names="value")
    show_step()
    return widgets.VBox(([picker, where] if len(found) > 1 else []) + [slider, picture])
