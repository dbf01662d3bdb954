"""The binned inpainting evaluation of Liu et al. 2018 (arXiv:1804.07723), Table 1.

`evaluate_inpainting` scores a model and the classical baselines on a set of test masks
grouped by hole ratio (`pconv.data.masks.PAPER_HOLE_BINS`): PSNR, SSIM and L1 of the composite
`mask * image + (1 - mask) * output` over the whole image, averaged per bin, returned as an
`InpaintingReport` (`pconv.evaluation.report`: text, Markdown and HTML tables). A mask given without
its bin is binned by its hole ratio with `pconv.data.hole_bins.bin_of`, the rule the mask generator
shares. `compare_methods` does the same for several models at once and keeps every
composite (a `Comparison`), for the pictures of `pconv.notebook.eval_plots`: grids of the fills side
by side, error maps and the worst cases of each method. (Longer than ~300 lines because
both share the pairing, the fills and the scoring, so their numbers agree by construction.)
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from pconv.data import bin_label, bin_of
from pconv.evaluation.metrics import l1_error, psnr, ssim
from pconv.evaluation.report import InpaintingReport
from pconv.nn import composite
from pconv.utils import eval_mode, resolve_device

__all__ = ["evaluate_inpainting", "InpaintingReport", "compare_methods", "Comparison"]


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
    from pconv.data import hole_ratio

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


def _test_pairs(images: Any, masks: Any) -> tuple[list[tuple[int, torch.Tensor, str]], list[str]]:
    """The image-mask pairs (image index, (1, H, W) mask, bin label) and the report's bin labels."""
    from pconv.data import PAPER_HOLE_BINS

    if isinstance(masks, (str, os.PathLike)):
        from pconv.data import load_test_masks

        masks = load_test_masks(masks)
    entries = [_mask_entry(e, PAPER_HOLE_BINS) for e in masks]
    if not entries:
        raise ValueError("masks is empty: pass load_test_masks(...) output or a test-mask folder")
    n_images = len(images)
    if n_images == 0:
        raise ValueError("images is empty")
    labels = [bin_label(b) for b in PAPER_HOLE_BINS]
    labels += sorted({lab for _, lab in entries} - set(labels))
    n_pairs = max(n_images, len(entries))
    return [(k % n_images, *entries[k % len(entries)]) for k in range(n_pairs)], labels


def _check_baselines(names: Sequence[str] | None, taken: Sequence[str]) -> dict[str, Callable]:
    """The baseline functions by name (None: every available one), refusing unknown or clashing names."""
    from pconv.evaluation.baselines import available_baselines

    available = available_baselines()
    names = list(available) if names is None else list(names)
    for name in names:
        if name not in available:
            raise ValueError(f"unknown method {name!r}; available here: {[*taken, *available]}")
        if name in taken:
            raise ValueError(f"{name!r} names both a model and a baseline; rename the model")
    return {name: available[name] for name in names}


@contextmanager
def _eval_mode(models: Iterable[Any], device: torch.device) -> Iterator[None]:
    """Move `nn.Module` models to `device` in eval mode; restore their training flags afterwards."""
    models = list(models)
    for m in models:
        if isinstance(m, torch.nn.Module):
            m.to(device)
    with eval_mode(*models):
        yield


def _fills(
    pairs: list[tuple[int, torch.Tensor, str]],
    images: Any,
    fillers: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]],
    batch_size: int,
    progress: bool,
) -> Iterator[tuple[list, dict[str, torch.Tensor], torch.Tensor]]:
    """Per batch of pairs: the pairs, {method: composite (B, 3, H, W)} and the images (B, 3, H, W)."""
    from tqdm.auto import tqdm

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    with tqdm(total=len(pairs), desc="evaluate", unit="img", disable=not progress) as bar:
        for run in _batches(pairs, batch_size):
            mask = torch.stack([m for _, m, _ in run])  # (B, 1, H, W)
            image = torch.stack([_fit(_image_at(images, i), tuple(m.shape[-2:])) for i, m, _ in run])
            comps = {}
            for name, fill in fillers.items():
                output = fill(image, mask)
                comps[name] = composite(image, mask, output)  # (B, 3, H, W)
            yield run, comps, image
            bar.update(len(run))


def _model_filler(model: Any, device: torch.device) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def fill(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model.inpaint(image.to(device), mask.to(device)).float().cpu().clamp(0, 1)

    return fill


def _report(
    values: dict[str, dict[str, list[float]]], pair_labels: Sequence[str], labels: list[str]
) -> InpaintingReport:
    """Per-bin means of per-pair scores: values[method][metric] holds one score per pair, in pair order."""
    results = {}
    for method, per_metric in values.items():
        results[method] = {}
        for lab in labels:
            cell: dict[str, float] = {"n": sum(1 for p in pair_labels if p == lab)}
            for key, scores in per_metric.items():
                picked = [v for v, p in zip(scores, pair_labels) if p == lab]
                cell[key] = math.fsum(picked) / len(picked) if picked else math.nan
            results[method][lab] = {k: cell[k] for k in (*per_metric, "n")}
    return InpaintingReport(results=results, methods=list(values), bins=labels)


def _scores(
    comp: torch.Tensor, image: torch.Tensor, metrics: Sequence[str] = ("psnr", "ssim", "l1")
) -> dict[str, torch.Tensor]:
    score = {"psnr": psnr, "ssim": ssim, "l1": l1_error}
    return {k: score[k](comp, image) for k in metrics}


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
            `pconv.data.masks.load_test_masks`, or the path of such a test-mask folder.
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
        `pconv.data.masks.PAPER_HOLE_BINS` (plus any other bins the masks carry).
    """
    pairs, labels = _test_pairs(images, masks)
    baselines = _check_baselines(None if methods is None else [m for m in methods if m != "model"], ["model"])
    if methods is None:
        methods = (["model"] if model is not None else []) + list(baselines)
    methods = list(methods)
    if "model" in methods and model is None:
        raise ValueError('methods includes "model" but model is None')
    if not methods:
        raise ValueError("nothing to evaluate: model is None and methods is empty")
    dev = resolve_device(device)
    fillers = {m: _model_filler(model, dev) if m == "model" else baselines[m] for m in methods}
    values: dict[str, dict[str, list[float]]] = {m: {"psnr": [], "ssim": [], "l1": []} for m in methods}
    with _eval_mode([model] if "model" in methods else [], dev):
        for _, comps, image in _fills(pairs, images, fillers, batch_size, progress):
            for name, comp in comps.items():
                for key, v in _scores(comp, image).items():
                    values[name][key] += [float(x) for x in v]
    return _report(values, [lab for _, _, lab in pairs], labels)


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
        if metric not in ("psnr", "ssim", "l1"):
            raise ValueError(f"metric must be 'psnr', 'ssim' or 'l1', got {metric!r}")
        return {m: _scores(comp, self.image, [metric])[metric] for m, comp in self.fills.items()}

    def report(self) -> InpaintingReport:
        """The per-bin table of `evaluate_inpainting`, from the stored composites."""
        values = {m: {k: v.tolist() for k, v in _scores(comp, self.image).items()} for m, comp in self.fills.items()}
        return _report(values, self.bins, self.labels or sorted(set(self.bins)))

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
    fillers_b = _check_baselines(baselines, list(models))
    if not models and not fillers_b:
        raise ValueError("nothing to compare: no models and no baselines")
    pairs, labels = _test_pairs(images, masks)
    if len({tuple(m.shape) for _, m, _ in pairs}) > 1:
        raise ValueError("compare_methods needs masks of one size; use evaluate_inpainting for mixed sizes")
    dev = resolve_device(device)
    fillers = {**{name: _model_filler(m, dev) for name, m in models.items()}, **fillers_b}
    chunks: dict[str, list[torch.Tensor]] = {name: [] for name in fillers}
    truth = []
    with _eval_mode(models.values(), dev):
        for _, comps, image in _fills(pairs, images, fillers, batch_size, progress):
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
