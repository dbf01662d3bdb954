"""Figures for the notebooks: inpainting grids, masks, training curves, segmentation.

Every function builds a `matplotlib.figure.Figure` directly (not through pyplot), so
nothing is shown, kept open or closed behind the caller's back: in Jupyter a returned
Figure renders inline as the cell's value (or with `display(fig)`), and
`fig.savefig(path)` writes it. Inputs may be torch tensors or numpy arrays, channels
first (N, C, H, W) / (C, H, W) or, for arrays, channels last (H, W, C). Sizes, fonts, frames
and axes follow `pconv.evaluation.figure_layout`, so that a notebook shows them readably.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pconv.evaluation.figure_layout import TEXT_PT, frame, integer_steps, panel_grid, panel_inches, use_log_scale, wrap
from pconv.evaluation.metrics import dice_per_image, psnr

__all__ = [
    "show_inpainting",
    "show_masks",
    "plot_history",
    "show_segmentation",
    "plot_dice_histogram",
]

HOLE_GREY = 0.85  # holes in the masked input are drawn light grey, as in the paper's figures


def as_batch(x: Any, channels: int, name: str) -> np.ndarray:
    """A tensor or array, one image or a batch, channels first or last, as a float numpy batch (N, H, W, channels).

    Raises:
        ValueError: the shape fits no such layout; the message names `name` and the shape.
    """
    a = x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float32)
    if a.ndim == 2:
        a = a[None, None]  # (H, W) -> (1, 1, H, W)
    elif a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"{name} must be (N, {channels}, H, W), (N, H, W, {channels}) or one image; got {a.shape}")
    if a.shape[1] != channels and a.shape[-1] == channels:
        a = a.transpose(0, 3, 1, 2)  # channels last -> first
    if a.shape[1] != channels:
        if channels == 1 and a.shape[0] == 1:  # (N, H, W) came in as (1, N, H, W)
            a = a.transpose(1, 0, 2, 3)
        else:
            raise ValueError(f"{name} must have {channels} channel(s), got shape {a.shape}")
    return a.transpose(0, 2, 3, 1)  # (N, H, W, C)


def _chw(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)  # (H, W, C) -> (C, H, W)


def show_inpainting(
    image: Any, mask: Any, output: Any, *, max_rows: int = 4, titles: Sequence[str] | None = None
) -> Figure:
    """Rows of masked input | output | composite | ground truth, PSNR of the composite in the title.

    Args:
        image: (N, 3, H, W) ground truth in [0, 1] (tensor or array; (3, H, W) for one).
        mask: (N, 1, H, W), 1 = valid, 0 = hole (holes are drawn light grey).
        output: (N, 3, H, W) raw network output in [0, 1].
        max_rows: show at most this many images.
        titles: optional per-row labels (e.g. file names) put before the first title.

    Returns:
        The Figure, 4 axes per row.
    """
    img, msk, out = as_batch(image, 3, "image"), as_batch(mask, 1, "mask"), as_batch(output, 3, "output")
    if not (len(img) == len(out) and len(msk) in (1, len(img))):
        raise ValueError(f"batch sizes differ: image {len(img)}, mask {len(msk)}, output {len(out)}")
    msk = np.broadcast_to(msk, img.shape[:3] + (1,)) > 0.5
    rows = min(len(img), max_rows)
    size = panel_inches(4)
    fig, axes = panel_grid(rows, 4, size)
    for r in range(rows):
        out_r = np.clip(out[r], 0, 1)
        comp = np.where(msk[r], img[r], out_r)  # composite: known pixels from the image
        masked = np.where(msk[r], img[r], HOLE_GREY)
        label = f"{titles[r]}: " if titles is not None and r < len(titles) else ""
        panels = [
            (masked, f"{label}input ({1 - msk[r].mean():.0%} hole)"),
            (out_r, "output"),
            (comp, f"composite {psnr(_chw(comp), _chw(img[r])).item():.2f} dB"),
            (img[r], "ground truth"),
        ]
        for ax, (pic, title) in zip(axes[r], panels):
            ax.imshow(np.clip(pic, 0, 1), interpolation="nearest")
            ax.set_title(wrap(title, 0.95 * size), fontsize=TEXT_PT)
    return fig


def show_masks(masks: Any, titles: Sequence[str] | None = None, ncols: int = 8, image: Any = None) -> Figure:
    """A grid of masks with their hole ratio, optionally drawn over a photo.

    Args:
        masks: (N, 1, H, W) tensor/array, or a list of (H, W) arrays; 1 = valid, 0 = hole.
        titles: optional per-mask titles (the hole ratio is appended).
        ncols: panels per row.
        image: optional (3, H, W) tensor or (H, W, 3) array; holes are then painted over
            it in white, so one sees what the network is asked to fill.

    Returns:
        The Figure, one axis per mask, each framed (a mask's white, valid area would merge into the page).
    """
    if isinstance(masks, (list, tuple)):
        stack = np.stack([as_batch(m, 1, "masks[i]")[0] for m in masks])  # (N, H, W, 1)
    else:
        stack = as_batch(masks, 1, "masks")
    if len(stack) == 0:
        raise ValueError("masks is empty")
    valid = stack[..., 0] > 0.5  # (N, H, W)
    photo = None if image is None else as_batch(image, 3, "image")[0]
    cols = max(1, min(ncols, len(valid)))
    rows = math.ceil(len(valid) / cols)
    size = panel_inches(cols)
    fig, axes = panel_grid(rows, cols, size)
    for k, ax in enumerate(axes.flat):
        if k >= len(valid):
            fig.delaxes(ax)
            continue
        if photo is not None:
            if photo.shape[:2] != valid[k].shape:
                raise ValueError(f"image is {photo.shape[:2]} but masks[{k}] is {valid[k].shape}")
            ax.imshow(np.where(valid[k][..., None], np.clip(photo, 0, 1), 1.0), interpolation="nearest")
        else:
            ax.imshow(valid[k], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        frame(ax)
        prefix = f"{titles[k]} " if titles is not None and k < len(titles) else ""
        ax.set_title(wrap(f"{prefix}{1 - valid[k].mean():.1%} hole", 0.95 * size), fontsize=TEXT_PT)
    return fig


def _smooth(values: np.ndarray, weight: float) -> np.ndarray:
    """Exponential moving average with bias correction (TensorBoard-style smoothing)."""
    out, acc = np.empty_like(values), 0.0
    for i, v in enumerate(values):
        acc = weight * acc + (1 - weight) * v
        out[i] = acc / (1 - weight ** (i + 1))
    return out


def plot_history(history: Sequence[dict[str, Any]], keys: Sequence[str] | None = None) -> Figure:
    """Training curves: loss terms on one axis, each validation metric on its own, lr last.

    Args:
        history: list of dicts such as {"step": 100, "loss/total": 0.9, "loss/hole": 0.3,
            "val/psnr": 24.1, "lr": 2e-4}; rows may lack keys. Without "step" the row
            index is used.
        keys: which keys to plot; default every numeric key but "step" (and the trainer's
            "skipped" counter while it stays 0: nothing to see). Keys with "loss"
            in the name share the loss axis (train curves lightly smoothed, raw drawn
            faint; "val/..." losses dashed), "lr" gets its own axis, any other key (e.g.
            "val/psnr") its own axis. The loss and lr axes are logarithmic when their values
            span two decades or more (`use_log_scale`); the step axis has whole-step ticks.

    Returns:
        The Figure: 1 loss axis (if any loss key) + 1 per metric + 1 for lr (if present);
        the loss terms' legend below the axes.
    """
    auto = keys is None
    if auto:
        keys = sorted({k for row in history for k, v in row.items() if k != "step" and _is_number(v)})
    series = {}
    for key in keys:
        pts = [(row.get("step", i), float(row[key])) for i, row in enumerate(history) if _is_number(row.get(key))]
        if pts and not (auto and key == "skipped" and not any(v for _, v in pts)):
            series[key] = np.asarray(pts, dtype=np.float64)  # (points, 2): step, value
    if not series:
        raise ValueError(f"history holds no numeric values for keys {list(keys)}")
    losses = [k for k in series if "loss" in k]
    others = [k for k in series if "loss" not in k and k != "lr"]
    panels = (["loss"] if losses else []) + others + (["lr"] if "lr" in series else [])
    cols = min(3, len(panels))
    fig, axes = panel_grid(math.ceil(len(panels) / cols), cols, size=3.6)
    flat = list(axes.flat)
    for ax in flat[len(panels) :]:
        fig.delaxes(ax)
    for ax, panel in zip(flat, panels):
        ax.set_axis_on()
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if panel == "loss":
            for k in losses:
                x, y = series[k].T
                if k.startswith("val"):
                    ax.plot(x, y, "--o", ms=3, label=k)
                elif len(y) > 10:  # noisy per-step values: faint raw curve under a smoothed one
                    line = ax.plot(x, y, alpha=0.25, lw=0.8)[0]
                    ax.plot(x, _smooth(y, 0.6), color=line.get_color(), label=k)
                else:
                    ax.plot(x, y, label=k)
            if use_log_scale(np.concatenate([series[k][:, 1] for k in losses])):
                ax.set_yscale("log")
            ax.set_title("losses")
            handles, labels = ax.get_legend_handles_labels()  # below the axes: over the curves it hid a line
            fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)), fontsize=TEXT_PT)
        else:
            x, y = series[panel].T
            ax.plot(x, y, "-o" if len(y) <= 50 else "-", ms=3)
            ax.set_title(panel)
            if panel == "lr" and use_log_scale(y):
                ax.set_yscale("log")
        integer_steps(ax)
    return fig


def _is_number(v: Any) -> bool:
    if isinstance(v, torch.Tensor):
        return v.numel() == 1
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool) and math.isfinite(v)


def show_segmentation(image: Any, target: Any, pred: Any, *, max_rows: int = 4, threshold: float = 0.5) -> Figure:
    """Rows of image | true mask | predicted mask over the image, per-image Dice in the title.

    Args:
        image: (N, 3, H, W) in [0, 1].
        target: (N, 1, H, W) true mask (foreground > 0.5).
        pred: (N, 1, H, W) predicted probabilities (apply sigmoid to logits first).
        max_rows: show at most this many images.
        threshold: foreground is `pred > threshold`.

    Returns:
        The Figure, 3 axes per row. The overlay tints predicted pixels red and outlines
        the true mask in yellow.
    """
    img, tgt, prob = as_batch(image, 3, "image"), as_batch(target, 1, "target"), as_batch(pred, 1, "pred")
    if not len(img) == len(tgt) == len(prob):
        raise ValueError(f"batch sizes differ: image {len(img)}, target {len(tgt)}, pred {len(prob)}")
    rows = min(len(img), max_rows)
    fig, axes = panel_grid(rows, 3, size=3.0, aspect=img.shape[1] / img.shape[2])  # Carvana's 2:3 rows stay tight
    for r in range(rows):
        t, p = tgt[r, ..., 0] > 0.5, prob[r, ..., 0] > threshold
        photo = np.clip(img[r], 0, 1)
        overlay = np.where(p[..., None], 0.55 * photo + 0.45 * np.array([1.0, 0.1, 0.1]), photo)
        axes[r, 0].imshow(photo)
        axes[r, 0].set_title("image", fontsize=TEXT_PT)
        axes[r, 1].imshow(t, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        frame(axes[r, 1])
        axes[r, 1].set_title("true mask", fontsize=TEXT_PT)
        axes[r, 2].imshow(np.clip(overlay, 0, 1))  # the blend can round a hair above 1
        if t.any() and not t.all():
            axes[r, 2].contour(t.astype(float), levels=[0.5], colors="yellow", linewidths=0.8)
        dice = dice_per_image(torch.from_numpy(p[None]).float(), torch.from_numpy(t[None]).float()).item()
        axes[r, 2].set_title(f"prediction, Dice {dice:.3f}", fontsize=TEXT_PT)
    return fig


def plot_dice_histogram(scores: Any, bins: int = 20) -> Figure:
    """Histogram of per-image Dice scores (e.g. from `pconv.evaluation.metrics.dice_per_image`), mean marked.

    Args:
        scores: (N,) tensor, array or list of values in [0, 1].
        bins: number of histogram bins over [0, 1].

    Returns:
        The Figure, one axis; the legend (the mean) right of it, off the bars.
    """
    s = scores.detach().float().cpu().numpy() if isinstance(scores, torch.Tensor) else np.asarray(scores, float)
    s = s.ravel()
    if s.size == 0:
        raise ValueError("scores is empty")
    fig = Figure(figsize=(6, 3), layout="constrained")
    ax = fig.subplots()
    ax.hist(s, bins=bins, range=(0, 1), color="tab:blue", alpha=0.8)
    ax.axvline(s.mean(), color="tab:red", ls="--", label=f"mean {s.mean():.3f}")
    ax.set_xlabel("Dice")
    ax.set_ylabel("images")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of images
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=TEXT_PT)
    return fig
