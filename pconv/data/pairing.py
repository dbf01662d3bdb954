"""Pairing images with hole masks: the `{"image", "mask"}` items an inpainting trainer reads.

Partial-convolution inpainting (Liu et al. 2018, arXiv:1804.07723) trains on photos paired
with irregular masks drawn independently of them (Sec. 4.1), so any image source can meet
any mask source here: `InpaintingDataset` pairs them, in a fixed cycle for evaluation or at
random for training, and makes the mask fit the image (nearest-neighbour, re-binarised).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from pconv.data.dataset_items import check_index, item_rng
from pconv.utils import check_binary_mask

__all__ = ["InpaintingDataset"]


def _field(item: Any, key: str) -> Any:
    if isinstance(item, dict):
        if key not in item:
            raise ValueError(f"InpaintingDataset: a dict item has no {key!r} key (keys: {sorted(item)})")
        return item[key]
    return item[0] if isinstance(item, (tuple, list)) else item  # (image, label) pairs


class InpaintingDataset(Dataset):
    """Pairs an image dataset with a mask source: items {"image": (3, H, W), "mask": (1, H, W)}.

    Image items may be (3, H, W) tensors in [0, 1], dicts with "image" or (image, label)
    tuples; mask items (1, H, W) or (H, W) binary tensors (1 = valid, 0 = hole) or dicts
    with "mask". A mask of another size is resized with nearest neighbour and re-binarised.

    Args:
        images: any indexable image source; its length is this dataset's length.
        masks: any indexable mask source (MaskGenerator, MaskFolder, a list of tensors).
        pairing: "cycle": image i gets mask i % len(masks) (deterministic, for evaluation);
            "random": a random mask on every access (for training).
        seed: for "random" pairing: masks drawn from (seed, index, epoch); None uses torch's RNG.
    """

    def __init__(self, images: Sequence, masks: Sequence, *, pairing: str = "cycle", seed: int | None = None):
        if pairing not in ("cycle", "random"):
            raise ValueError(f"pairing must be 'cycle' or 'random', got {pairing!r}")
        if len(masks) == 0:
            raise ValueError("InpaintingDataset: the mask source is empty; give at least one mask")
        self.images, self.masks, self.pairing, self.seed, self.epoch = images, masks, pairing, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Forwarded to the image and mask sources that have `set_epoch`."""
        self.epoch = int(epoch)
        for source in (self.images, self.masks):
            if hasattr(source, "set_epoch"):
                source.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        index = check_index(index, len(self))
        image = torch.as_tensor(_field(self.images[index], "image")).to(torch.float32)
        if image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(
                f"InpaintingDataset: images[{index}] must be a (3, H, W) tensor in [0, 1], "
                f"got shape {tuple(image.shape)}"
            )
        if self.pairing == "cycle":
            j = index % len(self.masks)
        else:
            j = int(item_rng(self.seed, index, self.epoch).integers(len(self.masks)))
        mask = torch.as_tensor(_field(self.masks[j], "mask")).to(torch.float32)
        mask = mask[None] if mask.ndim == 2 else mask
        if mask.ndim != 3 or mask.shape[0] != 1:
            raise ValueError(f"InpaintingDataset: masks[{j}] must be (1, H, W) or (H, W), got {tuple(mask.shape)}")
        check_binary_mask(mask, name=f"InpaintingDataset: masks[{j}]")
        if mask.shape[-2:] != image.shape[-2:]:
            mask = F.interpolate(mask[None], size=image.shape[-2:], mode="nearest-exact")[0]
            mask = (mask > 0.5).to(torch.float32)
        return {"image": image, "mask": mask}  # (3, H, W), (1, H, W)
