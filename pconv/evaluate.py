"""The binned inpainting evaluation of Liu et al. 2018 (arXiv:1804.07723), Table 1.

`evaluate_inpainting` scores a model and the classical baselines on a set of test masks
grouped by hole ratio (`pconv.masks.PAPER_HOLE_BINS`): PSNR, SSIM and L1 of the composite
`mask * image + (1 - mask) * output` over the whole image, averaged per bin, returned as an
`InpaintingReport` (`pconv.report`: text, Markdown and HTML tables). A mask given without
its bin is binned by its hole ratio with `pconv.report.bin_of`, the rule the mask generator
shares.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from pconv.report import InpaintingReport, bin_label, bin_of
from pconv.utils import resolve_device

__all__ = ["evaluate_inpainting", "InpaintingReport"]


def _image_at(images: Any, i: int) -> torch.Tensor:
    """Item i of a tensor, a list or a Dataset, as a (3, H, W) float tensor in [0, 1]."""
    item = images[i]
    if isinstance(item, dict):
        item = item["image"]
    elif isinstance(item, (tuple, list)):
        item = item[0]
    img = torch.as_tensor(item)
    if img.dtype == torch.uint8:
        img = img.float() / 255
    if img.dim() == 4 and img.shape[0] == 1:
        img = img[0]
    if img.dim() == 3 and img.shape[0] != 3 and img.shape[-1] == 3:
        img = img.permute(2, 0, 1)  # (H, W, 3) -> (3, H, W)
    if img.dim() != 3 or img.shape[0] != 3:
        raise ValueError(f"images[{i}] must be a (3, H, W) image, got shape {tuple(img.shape)}")
    return img.float().cpu()


def _fit(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Center-crop `image` (3, h, w) to the aspect ratio of `size` and resize it to `size`."""
    h, w = image.shape[-2:]
    if (h, w) == size:
        return image
    th, tw = size
    ch, cw = (h, round(h * tw / th)) if h * tw <= w * th else (round(w * th / tw), w)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = image[:, top : top + ch, left : left + cw].unsqueeze(0)  # (1, 3, ch, cw)
    out = F.interpolate(crop, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out[0].clamp(0, 1)


def _mask_entry(entry: Any, bins: Sequence[tuple[float, float]]) -> tuple[torch.Tensor, str]:
    """A test-mask entry (mask, bin) or a bare mask, as ((1, H, W) float mask, bin label)."""
    from pconv.masks import hole_ratio

    mask, hole_bin = entry if isinstance(entry, (tuple, list)) else (entry, None)
    mask = (torch.as_tensor(mask).cpu() > 0.5).float()
    if mask.dim() == 2:
        mask = mask.unsqueeze(0)
    if mask.dim() != 3 or mask.shape[0] != 1:
        raise ValueError(f"test masks must be (1, H, W), got shape {tuple(mask.shape)}")
    if isinstance(hole_bin, str):  # already a label such as "10-20%"
        return mask, hole_bin
    if hole_bin is None:  # derive the bin from the hole ratio, by the rule the generator uses
        hole_bin = bin_of(hole_ratio(mask), bins)
        return mask, bin_label(hole_bin) if hole_bin else "other"
    return mask, bin_label(tuple(hole_bin))


def _batches(pairs: list[tuple[int, torch.Tensor, str]], batch_size: int) -> Iterator[list]:
    """Consecutive runs of pairs with the same mask size, at most `batch_size` long."""
    run: list = []
    for pair in pairs:
        if run and (len(run) == batch_size or pair[1].shape != run[0][1].shape):
            yield run
            run = []
        run.append(pair)
    if run:
        yield run


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

    Pairing: with I images and M masks, pair k (k < max(I, M)) is image k % I with
    mask k % M, so every image and every mask is used at least once. An image whose
    size differs from its mask's is center-cropped to the mask's aspect ratio and
    resized (bilinear, antialiased). Scores are PSNR, SSIM and L1 of the composite
    `mask * image + (1 - mask) * output` over the whole image, averaged per bin.

    Args:
        model: an object with `inpaint(image, mask) -> composite` (e.g. `PConvUNet`), or
            None to score the baselines only. An `nn.Module` is moved to `device` and
            run in eval mode (its training flag is restored afterwards).
        images: a (N, 3, H, W) tensor in [0, 1], a list of (3, H, W) tensors, or a
            Dataset yielding such tensors or dicts with an "image" key.
        masks: a list of (mask (1, H, W), 1 = valid; bin (lo, hi)) as returned by
            `pconv.masks.load_test_masks`, or the path of such a test-mask folder.
            A bare mask (no bin) is binned by its hole ratio (`pconv.report.bin_of`:
            [0.01, 0.1], (0.1, 0.2], ..., (0.5, 0.6]; "other" outside every bin).
        methods: names to score, from "model" and `pconv.baselines.available_baselines()`;
            None means the model (if given) and every available baseline. Biharmonic is
            the slow one: about a second per 256x256 image with large holes.
        batch_size: images per `model.inpaint` call.
        device: where the model runs ("auto", "cpu", "cuda", ...); baselines run on CPU.
        progress: show a tqdm progress bar over the image-mask pairs.

    Returns:
        An `InpaintingReport` with rows = methods and columns = the hole-ratio bins of
        `pconv.masks.PAPER_HOLE_BINS` (plus any other bins the masks carry).
    """
    from tqdm.auto import tqdm

    from pconv.baselines import available_baselines
    from pconv.masks import PAPER_HOLE_BINS
    from pconv.metrics import l1_error, psnr, ssim  # here, not at the top: pconv.metrics re-exports this module

    if isinstance(masks, (str, os.PathLike)):
        from pconv.masks import load_test_masks

        masks = load_test_masks(masks)
    entries = [_mask_entry(e, PAPER_HOLE_BINS) for e in masks]
    if not entries:
        raise ValueError("masks is empty: pass load_test_masks(...) output or a test-mask folder")
    n_images = len(images)
    if n_images == 0:
        raise ValueError("images is empty")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")

    baselines = available_baselines()
    if methods is None:
        methods = (["model"] if model is not None else []) + list(baselines)
    methods = list(methods)
    for name in methods:
        if name == "model" and model is None:
            raise ValueError('methods includes "model" but model is None')
        if name != "model" and name not in baselines:
            raise ValueError(f"unknown method {name!r}; available here: {['model', *baselines]}")
    if not methods:
        raise ValueError("nothing to evaluate: model is None and methods is empty")

    dev = resolve_device(device)
    was_training = None
    if isinstance(model, torch.nn.Module) and "model" in methods:
        was_training = model.training
        model.to(dev).eval()

    labels = [bin_label(b) for b in PAPER_HOLE_BINS]
    labels += sorted({lab for _, lab in entries} - set(labels))
    scores = {m: {lab: {"psnr": [], "ssim": [], "l1": []} for lab in labels} for m in methods}
    n_pairs = max(n_images, len(entries))
    pairs = [(k % n_images, *entries[k % len(entries)]) for k in range(n_pairs)]
    try:
        with tqdm(total=n_pairs, desc="evaluate", unit="img", disable=not progress) as bar:
            for run in _batches(pairs, batch_size):
                mask = torch.stack([m for _, m, _ in run])  # (B, 1, H, W)
                image = torch.stack([_fit(_image_at(images, i), tuple(m.shape[-2:])) for i, m, _ in run])
                for name in methods:
                    if name == "model":
                        with torch.no_grad():
                            output = model.inpaint(image.to(dev), mask.to(dev)).float().cpu().clamp(0, 1)
                    else:
                        output = baselines[name](image, mask)
                    comp = mask * image + (1 - mask) * output  # (B, 3, H, W)
                    values = {"psnr": psnr(comp, image), "ssim": ssim(comp, image), "l1": l1_error(comp, image)}
                    for j, (_, _, lab) in enumerate(run):
                        for key, v in values.items():
                            scores[name][lab][key].append(float(v[j]))
                bar.update(len(run))
    finally:
        if was_training is not None:
            model.train(was_training)

    results = {
        m: {
            lab: {
                **{k: (math.fsum(v) / len(v) if v else math.nan) for k, v in cell.items()},
                "n": len(cell["psnr"]),
            }
            for lab, cell in per_bin.items()
        }
        for m, per_bin in scores.items()
    }
    return InpaintingReport(results=results, methods=methods, bins=labels)
