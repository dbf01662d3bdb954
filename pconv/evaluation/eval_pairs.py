"""The image-mask pairs of a binned inpainting evaluation (Liu et al. 2018, arXiv:1804.07723, Table 1).

With I images and M test masks there are max(I, M) pairs: pair k is image k % I with mask
k % M, so every image and every mask is used at least once. Each mask carries its hole-ratio
bin label; a bare mask is binned by its hole ratio with `pconv.data.hole_bins.bin_of`, the
rule the mask generator shares. An image whose size differs from its mask's is center-cropped
to the mask's aspect ratio and resized (`fit_image`). `pconv.evaluation.fills` fills and
scores these pairs for `evaluate_inpainting` and `compare_methods`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from pconv.data import PAPER_HOLE_BINS, bin_label, bin_of, hole_ratio, load_test_masks

__all__ = ["Pair", "image_at", "fit_image", "mask_entry", "pair_images_with_masks", "same_size_batches"]

Pair = tuple[int, torch.Tensor, str]  # (image index, (1, H, W) mask with 1 = valid, bin label)


def image_at(images: Any, i: int) -> torch.Tensor:
    """Item i of a tensor, a list or a Dataset, as a (3, H, W) float tensor in [0, 1].

    Args:
        images: a (N, 3, H, W) tensor, a list of (3, H, W) or (H, W, 3) tensors (float in
            [0, 1] or uint8), or a Dataset yielding those, (image, ...) tuples or {"image": ...}.
        i: the index.

    Returns:
        (3, H, W) float32 on the CPU.
    """
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


def fit_image(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Center-crop `image` to the aspect ratio of `size` and resize it to `size` (bilinear, antialiased).

    Args:
        image: (3, h, w) in [0, 1].
        size: (H, W), the mask's size.

    Returns:
        (3, H, W) in [0, 1]; `image` itself when it already has that size.
    """
    h, w = image.shape[-2:]
    if (h, w) == size:
        return image
    th, tw = size
    ch, cw = (h, round(h * tw / th)) if h * tw <= w * th else (round(w * th / tw), w)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = image[:, top : top + ch, left : left + cw].unsqueeze(0)  # (1, 3, ch, cw)
    out = F.interpolate(crop, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out[0].clamp(0, 1)


def mask_entry(entry: Any, bins: Sequence[tuple[float, float]]) -> tuple[torch.Tensor, str]:
    """A test-mask entry (mask, bin) or a bare mask, as its binary mask and its bin label.

    Args:
        entry: a mask (1, H, W) or (H, W), 1 = valid; or (mask, bin) with bin a (lo, hi) pair,
            a label such as "10-20%", or None (binned by its hole ratio).
        bins: the bins a bare mask is sorted into, e.g. `PAPER_HOLE_BINS`.

    Returns:
        ((1, H, W) float mask of 0 and 1, bin label); "other" for a ratio outside every bin.
    """
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


def pair_images_with_masks(images: Any, masks: Sequence[Any] | str | os.PathLike) -> tuple[list[Pair], list[str]]:
    """The image-mask pairs of an evaluation and the report's bin labels.

    Args:
        images: as `image_at` reads them; at least one.
        masks: `load_test_masks` output, bare masks, or the path of a test-mask folder.

    Returns:
        (pairs, labels): max(I, M) pairs (image k % I, mask k % M, its bin label), and the
        labels of `PAPER_HOLE_BINS` followed by any other label the masks carry, sorted.
    """
    if isinstance(masks, (str, os.PathLike)):
        masks = load_test_masks(masks)
    entries = [mask_entry(e, PAPER_HOLE_BINS) for e in masks]
    if not entries:
        raise ValueError("masks is empty: pass load_test_masks(...) output or a test-mask folder")
    n_images = len(images)
    if n_images == 0:
        raise ValueError("images is empty")
    labels = [bin_label(b) for b in PAPER_HOLE_BINS]
    labels += sorted({lab for _, lab in entries} - set(labels))
    n_pairs = max(n_images, len(entries))
    return [(k % n_images, *entries[k % len(entries)]) for k in range(n_pairs)], labels


def same_size_batches(pairs: list[Pair], batch_size: int) -> Iterator[list[Pair]]:
    """Consecutive runs of `pairs` whose masks have one size, each at most `batch_size` long."""
    run: list[Pair] = []
    for pair in pairs:
        if run and (len(run) == batch_size or pair[1].shape != run[0][1].shape):
            yield run
            run = []
        run.append(pair)
    if run:
        yield run
