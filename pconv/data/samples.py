"""Offline sample set: the natural colour photos that ship inside scikit-image's wheel.

Eight photos load with no network (scikit-image bundles them; others need a download):
six for training and two for validation, split by photo so that no photo is on both
sides. `SampleImageDataset` turns them into an endless supply of random crops, enough to
train and test the inpainting pipeline offline before any Kaggle download. Re-exported
from `pconv.data.image_folder`.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from pconv.data.dataset_items import check_index, item_rng
from pconv.data.image_io import to_tensor
from pconv.data.masks import MaskGenerator
from pconv.data.pairing import InpaintingDataset
from pconv.utils import check_size

__all__ = ["SampleImageDataset", "sample_crop", "sample_images", "sample_inpainting_data", "sample_names"]

_SAMPLE_LOADERS = {  # name -> skimage.data function; each verified to load without network
    "astronaut": "astronaut",
    "coffee": "coffee",
    "rocket": "rocket",
    "hubble": "hubble_deep_field",
    "ihc": "immunohistochemistry",
    "retina": "retina",
    "chelsea": "chelsea",
    "motorcycle": "stereo_motorcycle",
}
_SAMPLE_SPLITS = {
    "train": ("astronaut", "coffee", "rocket", "hubble", "ihc", "retina"),
    "val": ("chelsea", "motorcycle"),
}  # split by photo: no photo on both sides


def sample_names(split: str) -> tuple[str, ...]:
    """The photo names of `split` ("train", "val" or "all"), in a fixed order."""
    if split == "all":
        return _SAMPLE_SPLITS["train"] + _SAMPLE_SPLITS["val"]
    if split not in _SAMPLE_SPLITS:
        raise ValueError(f"split must be 'train', 'val' or 'all', got {split!r}")
    return _SAMPLE_SPLITS[split]


@functools.cache
def _sample_photo(name: str) -> np.ndarray:
    import skimage.data

    try:
        a = getattr(skimage.data, _SAMPLE_LOADERS[name])()
    except Exception as e:
        raise RuntimeError(
            f"scikit-image could not load its bundled photo {_SAMPLE_LOADERS[name]!r} ({e}); "
            "reinstall it: pip install --force-reinstall 'scikit-image>=0.22'"
        ) from e
    if isinstance(a, tuple):
        a = a[0]  # stereo_motorcycle is (left, right, disparity): the two views are one photo
    a = np.ascontiguousarray(a[..., :3], dtype=np.uint8)
    a.setflags(write=False)
    return a


@functools.cache
def _sample_pil(name: str) -> Image.Image:
    return Image.fromarray(_sample_photo(name))


def sample_crop(name: str, height: int, width: int, rng: np.random.Generator, flip: bool) -> Image.Image:
    """A random crop of sample photo `name`, resized to (height, width).

    The crop has the output's aspect ratio, a log-uniform width from the output's (native
    resolution) up to the widest that fits, and a uniform position; with `flip` it is
    mirrored half the time. All draws come from `rng`.

    Returns:
        RGB PIL image of size (width, height).
    """
    photo = _sample_pil(name)
    w, h = photo.size
    hi = min(w, h * width / height)  # the widest crop that fits
    lo = min(hi, width)  # down to native resolution: small outputs still see detail
    cw = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    ch = cw * height / width
    x0, y0 = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
    im = photo.resize((width, height), Image.Resampling.BICUBIC, box=(x0, y0, x0 + cw, y0 + ch))
    return im.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip and rng.random() < 0.5 else im


def sample_photo(name: str) -> np.ndarray:
    """One offline sample photo by name (see `sample_names("all")`), a fresh uint8 (H, W, 3) copy."""
    if name not in _SAMPLE_LOADERS:
        raise ValueError(f"no sample photo {name!r}; choose one of {', '.join(sample_names('all'))}")
    return _sample_photo(name).copy()


def sample_images(split: str = "train") -> list[tuple[str, np.ndarray]]:
    """Natural colour photos that ship with scikit-image (no download), split by photo.

    Args:
        split: "train" (6 photos), "val" (chelsea, motorcycle) or "all".

    Returns:
        [(name, uint8 array (H, W, 3))], fresh copies.
    """
    return [(name, sample_photo(name)) for name in sample_names(split)]


class SampleImageDataset(Dataset):
    """Random crops of the scikit-image sample photos as float32 (3, size, size) tensors in [0, 1].

    Each item is a crop at a random scale (from native resolution up to the whole photo)
    and position, flipped half the time, drawn from a Generator seeded by (seed, index,
    epoch): reproducible per index and independent of which DataLoader worker serves it.
    `split="val"` cycles through the val photos with fixed crops and no flips.
    """

    def __init__(self, size: int = 128, split: str = "train", length: int = 1000, seed: int | None = 0):
        self.names = sample_names(split)
        self.size, self.split, self.seed, self.epoch = check_size(size), split, seed, 0
        self.length = check_size(length, "length")
        for name in self.names:  # decoded now, not mid-training: a stop signal then cannot cut a read short
            _sample_photo(name)

    def set_epoch(self, epoch: int) -> None:
        """New crops for a new epoch (train and all splits; val crops never change)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        index = check_index(index, self.length)
        if self.split == "val":
            rng, name = item_rng(self.seed or 0, index), self.names[index % len(self.names)]
        else:
            rng = item_rng(self.seed, index, self.epoch)
            name = self.names[int(rng.integers(len(self.names)))]
        return to_tensor(sample_crop(name, self.size, self.size, rng, flip=self.split != "val"))


def sample_inpainting_data(
    size: int,
    hole_range: tuple[float, float] = (0.01, 0.6),
    *,
    train_length: int = 10_000,
    val_length: int = 32,
    masks: int | None = None,
    seed: int = 0,
) -> tuple[InpaintingDataset, InpaintingDataset]:
    """(train, val) `InpaintingDataset`s on the sample photos: the offline default of the CLI, the panel and recipes.

    Args:
        size: crop side in pixels.
        hole_range: (lo, hi) hole ratio of the irregular masks.
        train_length: random crops of the 6 training photos per epoch (new crops every epoch).
        val_length: fixed crops of the 2 held-out photos, each with a fixed mask.
        masks: distinct training masks; None means one per crop, paired in order. Fewer
            or more than `train_length` are paired at random on every access.
        seed: seeds crops and masks; validation masks use `seed + 1`.
    """
    n_masks = train_length if masks is None else masks
    train = InpaintingDataset(
        SampleImageDataset(size, "train", train_length, seed=seed),
        MaskGenerator(size, hole_range, n_masks, seed=seed),
        pairing="cycle" if n_masks == train_length else "random",
        seed=seed,
    )
    val = InpaintingDataset(
        SampleImageDataset(size, "val", val_length, seed=seed),
        MaskGenerator(size, hole_range, val_length, seed=seed + 1),
    )
    return train, val
