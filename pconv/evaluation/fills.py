"""Filling test pairs and scoring the composites: what `evaluate_inpainting` and `compare_methods` share.

A method is a fill `(image, mask) -> output`: a model's `inpaint`, or a classical baseline
(`pconv.evaluation.baselines`). Each output becomes the composite `pconv.nn.composite`
(Liu et al. 2018, arXiv:1804.07723, Sec. 3.3), scored over the whole image with PSNR, SSIM
and L1 (`pconv.evaluation.metrics`) and averaged per hole-ratio bin (Table 1) into an
`InpaintingReport`. Both entry points run this one path, so their numbers agree by construction.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from tqdm.auto import tqdm

from pconv.evaluation.baselines import available_baselines
from pconv.evaluation.eval_pairs import Pair, fit_image, image_at, same_size_batches
from pconv.evaluation.metrics import l1_error, psnr, ssim
from pconv.evaluation.report import InpaintingReport
from pconv.nn import composite
from pconv.utils import eval_mode

__all__ = [
    "SCORES",
    "Fill",
    "check_baselines",
    "models_on",
    "model_fill",
    "fill_pairs",
    "score_composites",
    "per_bin_report",
]

Fill = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (image, mask) -> output, (B, 3, H, W)
SCORES = {"psnr": psnr, "ssim": ssim, "l1": l1_error}  # per-image metrics of the composite


def check_baselines(names: Sequence[str] | None, taken: Sequence[str]) -> dict[str, Fill]:
    """The baseline fills by name, refusing unknown names and names a model already has.

    Args:
        names: baseline names; None: every available one (`available_baselines()`).
        taken: the names of the models, listed in the error for an unknown name.

    Returns:
        {name: fill}, in the order of `names`.
    """
    available = available_baselines()
    names = list(available) if names is None else list(names)
    for name in names:
        if name not in available:
            raise ValueError(f"unknown method {name!r}; available here: {[*taken, *available]}")
        if name in taken:
            raise ValueError(f"{name!r} names both a model and a baseline; rename the model")
    return {name: available[name] for name in names}


@contextmanager
def models_on(models: Iterable[Any], device: torch.device) -> Iterator[None]:
    """Move the `nn.Module`s among `models` to `device`, in eval mode; their training flags restored after."""
    models = list(models)
    for m in models:
        if isinstance(m, torch.nn.Module):
            m.to(device)
    with eval_mode(*models):
        yield


def model_fill(model: Any, device: torch.device) -> Fill:
    """A model's `inpaint` as a fill: inputs moved to `device`, output float32 on the CPU in [0, 1], no grad."""

    def fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model.inpaint(image.to(device), mask.to(device)).float().cpu().clamp(0, 1)

    return fill


def fill_pairs(
    pairs: list[Pair], images: Any, fills: dict[str, Fill], batch_size: int, progress: bool
) -> Iterator[tuple[list[Pair], dict[str, torch.Tensor], torch.Tensor]]:
    """Fill the pairs batch by batch with every method.

    Args:
        pairs: from `pair_images_with_masks`.
        images: the images the pairs index.
        fills: {method: fill}.
        batch_size: pairs per fill call, at least 1 (a batch also ends where the mask size changes).
        progress: show a tqdm bar over the pairs.

    Yields:
        (batch of pairs, {method: composite (B, 3, H, W) in [0, 1]}, images (B, 3, H, W)).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    with tqdm(total=len(pairs), desc="evaluate", unit="img", disable=not progress) as bar:
        for run in same_size_batches(pairs, batch_size):
            mask = torch.stack([m for _, m, _ in run])  # (B, 1, H, W)
            image = torch.stack([fit_image(image_at(images, i), tuple(m.shape[-2:])) for i, m, _ in run])
            comps = {name: composite(image, mask, fill(image, mask)) for name, fill in fills.items()}
            yield run, comps, image
            bar.update(len(run))


def score_composites(
    comp: torch.Tensor, image: torch.Tensor, metrics: Sequence[str] = tuple(SCORES)
) -> dict[str, torch.Tensor]:
    """Per-image scores of composites against the ground truth.

    Args:
        comp: (B, 3, H, W) composites in [0, 1].
        image: (B, 3, H, W) ground truth in [0, 1].
        metrics: keys of `SCORES`.

    Returns:
        {metric: (B,)}: PSNR in dB, SSIM in [-1, 1], L1 in [0, 1].
    """
    return {k: SCORES[k](comp, image) for k in metrics}


def per_bin_report(
    values: dict[str, dict[str, list[float]]], pair_labels: Sequence[str], labels: list[str]
) -> InpaintingReport:
    """Per-bin means of per-pair scores.

    Args:
        values: values[method][metric] holds one score per pair, in pair order.
        pair_labels: the bin label of each pair.
        labels: the report's columns; a bin without pairs gets n = 0 and NaN means.

    Returns:
        An `InpaintingReport` with a row per method of `values`, in its order.
    """
    results = {}
    for method, per_metric in values.items():
        results[method] = {}
        for lab in labels:
            cell: dict[str, float] = {"n": sum(1 for p in pair_labels if p == lab)}
            for key, column in per_metric.items():
                picked = [v for v, p in zip(column, pair_labels) if p == lab]
                cell[key] = math.fsum(picked) / len(picked) if picked else math.nan
            results[method][lab] = {k: cell[k] for k in (*per_metric, "n")}
    return InpaintingReport(results=results, methods=list(values), bins=labels)
