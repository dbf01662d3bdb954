"""Several inpainting methods on one test set, every composite kept: the pictures and the table alike.

`compare_methods` fills every image-mask pair (`pconv.evaluation.eval_pairs`) with several
models and the classical baselines, through the filling and scoring of `evaluate_inpainting`
(`pconv.evaluation.fills`), so `Comparison.report()` is that function's per-bin table
(Liu et al. 2018, arXiv:1804.07723, Table 1) with a row per model. The composites stay in
memory for the figures of `pconv.notebook`: fills side by side, error maps, worst cases.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from pconv.evaluation.eval_pairs import pair_images_with_masks
from pconv.evaluation.fills import (
    SCORES,
    check_baselines,
    fill_pairs,
    model_fill,
    models_on,
    per_bin_report,
    score_composites,
)
from pconv.evaluation.report import InpaintingReport
from pconv.utils import resolve_device

__all__ = ["Comparison", "compare_methods"]


@dataclass
class Comparison:
    """Every method's composite of every test pair (`compare_methods`): the pictures and the scores alike.

    Attributes:
        image: (N, 3, H, W) ground truth in [0, 1], pair k's image.
        mask: (N, 1, H, W), 1 = valid, 0 = hole.
        bins: N hole-ratio bin labels ("10-20%", ...).
        fills: {method: (N, 3, H, W) composite in [0, 1]}, models first, then baselines.
        labels: the bin labels of the report's columns.
    """

    image: torch.Tensor
    mask: torch.Tensor
    bins: list[str]
    fills: dict[str, torch.Tensor]
    labels: list[str] = field(default_factory=list)

    @property
    def methods(self) -> list[str]:
        """The method names, in the order of `fills`."""
        return list(self.fills)

    def scores(self, metric: str = "psnr") -> dict[str, torch.Tensor]:
        """Per-pair scores of each method: {method: (N,)}; `metric` is "psnr", "ssim" or "l1"."""
        if metric not in SCORES:
            raise ValueError(f"metric must be 'psnr', 'ssim' or 'l1', got {metric!r}")
        return {m: score_composites(comp, self.image, [metric])[metric] for m, comp in self.fills.items()}

    def report(self) -> InpaintingReport:
        """The per-bin table of `evaluate_inpainting`, from the stored composites."""
        values = {
            m: {k: v.tolist() for k, v in score_composites(comp, self.image).items()} for m, comp in self.fills.items()
        }
        return per_bin_report(values, self.bins, self.labels or sorted(set(self.bins)))

    def rows(self, per_bin: int) -> list[int]:
        """Indices of the first `per_bin` pairs of each bin, bin by bin (for a grid)."""
        order = [lab for lab in self.labels if lab in self.bins] or list(dict.fromkeys(self.bins))
        return [k for lab in order for k in [i for i, b in enumerate(self.bins) if b == lab][:per_bin]]

    def select(self, indices: Sequence[int]) -> Comparison:
        """The pairs `indices` only (same methods)."""
        idx = torch.as_tensor(list(indices), dtype=torch.long)
        return Comparison(
            image=self.image[idx],
            mask=self.mask[idx],
            bins=[self.bins[i] for i in idx.tolist()],
            fills={m: f[idx] for m, f in self.fills.items()},
            labels=self.labels,
        )


def compare_methods(
    models: Mapping[str, Any],
    images: Any,
    masks: Sequence[Any] | str | os.PathLike,
    *,
    baselines: Sequence[str] | None = None,
    batch_size: int = 8,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> Comparison:
    """Fill every test pair with several models and the classical baselines, keeping the composites.

    The pairing, resizing and scores are those of `evaluate_inpainting`
    (`compare_methods(...).report()` is its table, with a row per model); the
    composites stay in memory (N x 3 x H x W floats per method) for the figures of
    `pconv.notebook.eval_plots`. All masks must have one size.

    Args:
        models: {name: model with `inpaint(image, mask)`}, e.g. from `pconv.train.runs.load_models`;
            may be empty (baselines only).
        images: as in `evaluate_inpainting`.
        masks: as in `evaluate_inpainting`.
        baselines: names from `pconv.evaluation.baselines.available_baselines()`; None: every available one
            (OpenCV's only when it is installed).
        batch_size: images per `inpaint` call.
        device: where the models run; baselines run on CPU.
        progress: show a tqdm progress bar over the pairs.

    Returns:
        A `Comparison`.
    """
    models = dict(models)
    fillers_b = check_baselines(baselines, list(models))
    if not models and not fillers_b:
        raise ValueError("nothing to compare: no models and no baselines")
    pairs, labels = pair_images_with_masks(images, masks)
    if len({tuple(m.shape) for _, m, _ in pairs}) > 1:
        raise ValueError("compare_methods needs masks of one size; use evaluate_inpainting for mixed sizes")
    dev = resolve_device(device)
    fillers = {**{name: model_fill(m, dev) for name, m in models.items()}, **fillers_b}
    chunks: dict[str, list[torch.Tensor]] = {name: [] for name in fillers}
    truth = []
    with models_on(models.values(), dev):
        for _, comps, image in fill_pairs(pairs, images, fillers, batch_size, progress):
            truth.append(image)
            for name, comp in comps.items():
                chunks[name].append(comp.float())
    return Comparison(
        image=torch.cat(truth),
        mask=torch.stack([m for _, m, _ in pairs]),
        bins=[lab for _, _, lab in pairs],
        fills={name: torch.cat(c) for name, c in chunks.items()},
        labels=labels,
    )
