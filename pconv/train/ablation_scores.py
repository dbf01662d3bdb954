"""Scoring the ablation arms of notebook 07 over seeds, from their checkpoints.

- `score_inpainting`: every arm and the classical fills on one binned test set (Liu et al. 2018,
  arXiv:1804.07723, Table 1: PSNR and SSIM of the composite per hole-ratio bin), as a `SeedTable`
  of mean ± std over seeds, with every seed's composites kept for the figures.
- `hole_value_sensitivity`: the same trained networks with the holes at 0, 0.5 and the ImageNet
  mean (Fig. 2 e/f). A plain network sees what its holes hold; a partial convolution never does
  (Sec. 3.1), so its composites must be bit for bit the same, which `unchanged` records.
- `score_segmentation`: Dice over the whole image and within `width` px of the border, where
  partial-convolution padding (Liu et al. 2018, arXiv:1811.11718) changes the network.

The models are rebuilt from the runs' checkpoints (`model_from_checkpoint`), so what is scored is
what was saved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader

from pconv.data import SampleImageDataset, fixed_test_masks, load_test_masks
from pconv.evaluation import METRICS, border_dice, compare_methods, dice_score, predict_probs, psnr
from pconv.evaluation.comparison import Comparison
from pconv.evaluation.report import InpaintingReport
from pconv.nn.conv_variants import hole_fill_values
from pconv.train.ablations import AblationSettings, ArmRun, arm_data
from pconv.train.checkpoint_model import model_from_checkpoint
from pconv.train.seed_table import SeedTable
from pconv.utils import eval_mode, resolve_device

__all__ = [
    "HOLE_VALUES",
    "HoleValueSensitivity",
    "InpaintingScores",
    "hole_value_label",
    "hole_value_sensitivity",
    "load_arm_models",
    "per_bin_table",
    "score_inpainting",
    "score_segmentation",
    "inpainting_test_set",
]

HOLE_VALUES = (0.0, 0.5, "imagenet")  # what the holes hold: black, 127.5 / 255, the ImageNet mean (Fig. 2 e/f)
_GROUPS = {key: title for key, title, _, _, _ in METRICS if key in ("psnr", "ssim")}  # "PSNR (dB)", "SSIM"
_FORMATS = {"PSNR (dB)": "{:.2f}", "SSIM": "{:.3f}", "Dice": "{:.3f}"}


def inpainting_test_set(settings: AblationSettings) -> tuple[SampleImageDataset, list]:
    """The held-out crops and the binned test masks every arm and fill is scored on, whatever the seed.

    Returns:
        (images: crops of the two validation photos, one per mask; masks: `load_test_masks` of the
        shared set `fixed_test_masks(size, per_bin, seed=0)`).
    """
    masks = load_test_masks(fixed_test_masks(settings.size, settings.per_bin, seed=0))
    return SampleImageDataset(settings.size, "val", len(masks), seed=0), masks


def load_arm_models(runs: Sequence[ArmRun], device: str | torch.device = "cpu") -> dict[tuple[str, int], nn.Module]:
    """{(arm, seed): the network rebuilt from the run's checkpoint, in eval mode on `device`}."""
    dev = resolve_device(device)
    return {(r.arm, r.seed): model_from_checkpoint(r.checkpoint, device=dev) for r in runs}


def per_bin_table(reports: Sequence[InpaintingReport], seeds: Sequence[int]) -> SeedTable:
    """PSNR and SSIM per hole-ratio bin and over all images, one value per report (seed) in each cell.

    Args:
        reports: one `InpaintingReport` per seed (a method may be in only some, e.g. a deterministic
            fill scored once).
        seeds: the seed of each report, for the note under the table.

    Returns:
        A `SeedTable`: groups "PSNR (dB)" and "SSIM", a row per method, a column per bin that
        holds images, then "all" (the mean over every image).
    """
    if not reports:
        raise ValueError("reports is empty: score at least one seed")
    first = reports[0]
    bins = [b for b in first.bins if first.results[first.methods[0]][b]["n"]]
    table = SeedTable(columns=[*bins, "all"], formats=dict(_FORMATS))
    table.higher_is_better.update({title: True for title in _GROUPS.values()})
    for key, title in _GROUPS.items():
        for report in reports:
            for method in report.methods:
                cells = report.results[method]
                for b in bins:
                    table.add(title, method, b, cells[b][key])
                n = sum(cells[b]["n"] for b in bins)
                table.add(title, method, "all", sum(cells[b][key] * cells[b]["n"] for b in bins) / n)
    table.notes.append(f"mean \u00b1 std over seeds {list(seeds)}; a single value: a deterministic fill, scored once")
    return table


@dataclass
class InpaintingScores:
    """`score_inpainting`'s result.

    Attributes:
        table: the per-bin `SeedTable` (PSNR and SSIM, mean ± std over seeds).
        comparisons: {seed: `Comparison`}: every arm's composites of the test set; the first seed's
            has the classical fills too.
        models: {(arm, seed): network}, as rebuilt from the checkpoints.
    """

    table: SeedTable
    comparisons: dict[int, Comparison]
    models: dict[tuple[str, int], nn.Module]


def score_inpainting(
    runs: Sequence[ArmRun],
    settings: AblationSettings,
    *,
    baselines: Sequence[str] | None = None,
    progress: bool = False,
) -> InpaintingScores:
    """Every trained arm, seed by seed, and the classical fills once, on `inpainting_test_set(settings)`.

    Args:
        runs: inpainting `ArmRun`s (`train_arms(settings, "inpainting")`).
        settings: their settings.
        baselines: names from `pconv.evaluation.available_baselines()`; None: every available one.
        progress: a progress bar per seed.
    """
    if not runs:
        raise ValueError("runs is empty: train the arms first (train_arms(settings, 'inpainting'))")
    images, masks = inpainting_test_set(settings)
    models = load_arm_models(runs, settings.device)
    seeds = list(dict.fromkeys(r.seed for r in runs))
    comparisons = {}
    for i, seed in enumerate(seeds):
        arms = {arm: m for (arm, s), m in models.items() if s == seed}
        comparisons[seed] = compare_methods(
            arms, images, masks, baselines=baselines if i == 0 else [], device=settings.device, progress=progress
        )
    table = per_bin_table([c.report() for c in comparisons.values()], seeds)
    return InpaintingScores(table, comparisons, models)


def hole_value_label(value: float | str) -> str:
    """`0`, `0.5`, `ImageNet mean`: a column of the sensitivity table."""
    return "ImageNet mean" if value == "imagenet" else f"{float(value):g}"


@dataclass
class HoleValueSensitivity:
    """`hole_value_sensitivity`'s result.

    Attributes:
        table: PSNR (dB) of the composite, a row per arm, a column per hole value, mean ± std over seeds.
        unchanged: {arm: True when every seed's composites were bit for bit the same for every value}.
    """

    table: SeedTable
    unchanged: dict[str, bool]


def _fill(model: nn.Module, image: torch.Tensor, mask: torch.Tensor, batch_size: int) -> torch.Tensor:
    """`model.inpaint` in batches on the model's device; the composite (N, 3, H, W) on the CPU."""
    device = next(model.parameters()).device
    with eval_mode(model), torch.no_grad():
        parts = [
            model.inpaint(image[i : i + batch_size].to(device), mask[i : i + batch_size].to(device)).float().cpu()
            for i in range(0, len(image), batch_size)
        ]
    return torch.cat(parts)


def hole_value_sensitivity(
    models: Mapping[tuple[str, int], nn.Module],
    image: torch.Tensor,
    mask: torch.Tensor,
    values: Sequence[float | str] = HOLE_VALUES,
    *,
    batch_size: int = 8,
) -> HoleValueSensitivity:
    """The same trained networks evaluated with their holes at each of `values`.

    For each value the image's holes are set to it and so is `model.hole_value` (what a plain or
    gated network puts under its holes; a partial network has none to use); the model's own
    hole value is restored afterwards.

    Args:
        models: {(arm, seed): inpainting network with a settable `hole_value`}.
        image: (N, 3, H, W) ground truth in [0, 1]. mask: (N, 1, H, W), 1 = valid, 0 = hole.
        values: floats in [0, 1] or "imagenet".
        batch_size: images per `inpaint` call.
    """
    if not models or not values:
        raise ValueError("hole_value_sensitivity needs at least one model and one hole value")
    table = SeedTable(columns=[hole_value_label(v) for v in values], formats=dict(_FORMATS))
    unchanged: dict[str, bool] = {}
    known = mask > 0.5
    for (arm, _seed), model in models.items():
        own, composites = model.hole_value, []
        try:
            for value in values:
                model.hole_value = value
                fill = torch.tensor(hole_fill_values(model.hole_value, image.shape[1])).view(1, -1, 1, 1)
                comp = _fill(model, torch.where(known, image, fill), mask, batch_size)
                table.add("PSNR (dB)", arm, hole_value_label(value), psnr(comp, image).mean())
                composites.append(comp)
        finally:
            model.hole_value = own
        same = all(torch.equal(composites[0], c) for c in composites[1:])
        unchanged[arm] = unchanged.get(arm, True) and same
    seeds = sorted({s for _, s in models})
    table.notes.append(f"PSNR of the composite over every test image, mean \u00b1 std over seeds {seeds}")
    return HoleValueSensitivity(table, unchanged)


def score_segmentation(
    runs: Sequence[ArmRun], settings: AblationSettings, *, width: int = 16, batch_size: int | None = None
) -> SeedTable:
    """Dice of every segmentation run on the held-out set, over the whole image and near its border.

    Args:
        runs: segmentation `ArmRun`s (`train_arms(settings, "segmentation")`).
        settings: their settings (the held-out set is `arm_data(settings, "segmentation", 0)[1]`).
        width: the border frame of `pconv.evaluation.border_dice`, in pixels.
        batch_size: images per forward pass (default `settings.seg_batch_size`).

    Returns:
        A `SeedTable`, group "Dice", a row per arm, columns "whole image" and "within <width> px
        of the border": means over the held-out images, mean ± std over seeds.
    """
    if not runs:
        raise ValueError("runs is empty: train the arms first (train_arms(settings, 'segmentation'))")
    _, held_out = arm_data(settings, "segmentation", 0)
    border = f"within {width} px of the border"
    table = SeedTable(columns=["whole image", border], formats=dict(_FORMATS), higher_is_better={"Dice": True})
    batches = [(b["image"], b["mask"]) for b in DataLoader(held_out, batch_size=batch_size or settings.seg_batch_size)]
    total = sum(len(image) for image, _ in batches)
    for run in runs:
        model = model_from_checkpoint(run.checkpoint, device=resolve_device(settings.device))
        whole = near = 0.0
        for image, target in batches:  # batch means weighted by batch size: the mean over images
            prob = predict_probs(model, image)
            whole += float(dice_score(prob, target)) * len(image)
            near += float(border_dice(prob, target, width=width)) * len(image)
        table.add("Dice", run.arm, "whole image", whole / total)
        table.add("Dice", run.arm, border, near / total)
    seeds = sorted({r.seed for r in runs})
    table.notes.append(f"mean per-image Dice over {total} held-out images, mean \u00b1 std over seeds {seeds}")
    return table
