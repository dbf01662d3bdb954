"""The binned inpainting evaluation of Liu et al. 2018 (arXiv:1804.07723), Table 1.

`evaluate_inpainting` scores a model and the classical baselines on a set of test masks
grouped by hole ratio (`pconv.data.PAPER_HOLE_BINS`): PSNR, SSIM and L1 of the composite
`mask * image + (1 - mask) * output` over the whole image, averaged per bin, returned as an
`InpaintingReport` (`pconv.evaluation.report`: text, Markdown and HTML tables). The pairing of
images with masks is `pconv.evaluation.eval_pairs`; the filling and scoring, shared with
`pconv.evaluation.comparison.compare_methods`, is `pconv.evaluation.fills`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch

from pconv.evaluation.eval_pairs import pair_images_with_masks
from pconv.evaluation.fills import check_baselines, fill_pairs, model_fill, models_on, per_bin_report, score_composites
from pconv.evaluation.report import InpaintingReport
from pconv.utils import resolve_device

__all__ = ["evaluate_inpainting"]


def evaluate_inpainting(
    model: Any,
    images: Any,
    masks: Sequence[Any] | str | os.PathLike,
    *,
    methods: Sequence[str] | None = None,
    batch_size: int = 8,
    device: str | torch.device = "auto",
    progress: bool = True,
) -> InpaintingReport:
    """Score the model and the classical baselines on a binned set of test masks.

    Pairing (`pconv.evaluation.eval_pairs`): with I images and M masks, pair k
    (k < max(I, M)) is image k % I with mask k % M, so every image and every mask is
    used at least once. An image whose size differs from its mask's is center-cropped
    to the mask's aspect ratio and resized (bilinear, antialiased). Scores are PSNR, SSIM and L1 of the composite
    `mask * image + (1 - mask) * output` over the whole image, averaged per bin.

    Args:
        model: an object with `inpaint(image, mask) -> composite` (e.g. `PConvUNet`), or
            None to score the baselines only. An `nn.Module` is moved to `device` and
            run in eval mode (its training flag is restored afterwards).
        images: a (N, 3, H, W) tensor in [0, 1], a list of (3, H, W) tensors, or a
            Dataset yielding such tensors or dicts with an "image" key.
        masks: a list of (mask (1, H, W), 1 = valid; bin (lo, hi)) as returned by
            `pconv.data.load_test_masks`, or the path of such a test-mask folder.
            A bare mask (no bin) is binned by its hole ratio (`pconv.data.hole_bins.bin_of`:
            [0.01, 0.1], (0.1, 0.2], ..., (0.5, 0.6]; "other" outside every bin).
        methods: names to score, from "model" and `pconv.evaluation.baselines.available_baselines()`;
            None means the model (if given) and every available baseline. Biharmonic is
            the slow one: about a second per 256x256 image with large holes.
        batch_size: images per `model.inpaint` call.
        device: where the model runs ("auto", "cpu", "cuda", ...); baselines run on CPU.
        progress: show a tqdm progress bar over the image-mask pairs.

    Returns:
        An `InpaintingReport` with rows = methods and columns = the hole-ratio bins of
        `pconv.data.PAPER_HOLE_BINS` (plus any other bins the masks carry).
    """
    pairs, labels = pair_images_with_masks(images, masks)
    baselines = check_baselines(None if methods is None else [m for m in methods if m != "model"], ["model"])
    if methods is None:
        methods = (["model"] if model is not None else []) + list(baselines)
    methods = list(methods)
    if "model" in methods and model is None:
        raise ValueError('methods includes "model" but model is None')
    if not methods:
        raise ValueError("nothing to evaluate: model is None and methods is empty")
    dev = resolve_device(device)
    fillers = {m: model_fill(model, dev) if m == "model" else baselines[m] for m in methods}
    values: dict[str, dict[str, list[float]]] = {m: {"psnr": [], "ssim": [], "l1": []} for m in methods}
    with models_on([model] if "model" in methods else [], dev):
        for _, comps, image in fill_pairs(pairs, images, fillers, batch_size, progress):
            for name, comp in comps.items():
                for key, v in score_composites(comp, image).items():
                    values[name][key] += [float(x) for x in v]
    return per_bin_report(values, [lab for _, _, lab in pairs], labels)
