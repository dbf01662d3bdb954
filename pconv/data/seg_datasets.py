"""Segmentation data for the U-Net: Kaggle's Carvana cars and an offline synthetic stand-in.

Items are `{"image": (3, H, W) float32 in [0, 1], "mask": (1, H, W) float32 {0, 1},
"id": str}` with mask 1 = object (car). Note the polarity: here the mask marks the
object to segment, not the valid pixels of inpainting.

`CarvanaDataset` reads the Carvana Image Masking Challenge layout (`train/<car>_<NN>.jpg`,
`train_masks/<car>_<NN>_mask.gif`; 16 views per car), checks that images and masks pair
up before training starts, and splits by car so no car is seen in both train and val.
`SyntheticShapesDataset` needs no download: shapes with exact masks over the offline
sample photos. Both are re-exported from `pconv.data.image_folder`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch.utils.data import Dataset

from pconv.data.dataset_items import check_index, item_rng, split_indices
from pconv.data.image_files import IMAGE_EXTENSIONS
from pconv.data.image_io import decoded_image, load_image, to_tensor
from pconv.data.samples import sample_crop, sample_names
from pconv.utils import check_hw, check_size, user_path

__all__ = ["CarvanaDataset", "SyntheticShapesDataset", "load_object_mask"]

_MASK_EXTS = (".gif", ".png")
_IMAGE_DIRS = ("train", "train/train", "train_hq", "train_hq/train_hq")  # zips may extract into a same-named folder
_MASK_DIRS = ("train_masks", "train_masks/train_masks")


def _size_hw(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """None (full resolution) or the checked (H, W)."""
    return None if size is None else check_hw(size, "size")


def _listdir(folder: Path, exts: tuple[str, ...]) -> list[Path]:
    """Non-hidden files directly in `folder` with one of `exts` (any case), sorted."""
    if not folder.is_dir():
        return []
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in exts
    )


def _find_layout(root: Path) -> tuple[Path, Path]:
    """(image folder, mask folder) under root, root/<one level>, or their train/train nestings."""
    if not root.is_dir():
        raise FileNotFoundError(
            f"CarvanaDataset: root folder {root} does not exist; download the data with "
            "pconv.data.kaggle.download.download('carvana') or pass the folder that holds train/ and train_masks/"
        )
    subdirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for base in [root, *subdirs]:
        images = next((base / d for d in _IMAGE_DIRS if _listdir(base / d, IMAGE_EXTENSIONS)), None)
        masks = next((base / d for d in _MASK_DIRS if _listdir(base / d, _MASK_EXTS)), None)
        if images and masks:
            return images, masks
    found = ", ".join(sorted(p.name for p in root.iterdir() if not p.name.startswith("."))[:10]) or "nothing"
    raise FileNotFoundError(
        f"CarvanaDataset: no Carvana layout under {root}: expected train/*.jpg and "
        f"train_masks/*_mask.gif (Kaggle's layout, possibly nested one folder deeper); found "
        f"{found}. Unzip train.zip and train_masks.zip there, or use pconv.data.kaggle.download.download('carvana')"
    )


def _car_id(stem: str) -> str:
    """'00087a6bd4dc_01' -> '00087a6bd4dc' (the car); other names are their own car."""
    head, sep, tail = stem.rpartition("_")
    return head if sep and tail.isdigit() else stem


def _match_images_to_masks(image_dir: Path, mask_dir: Path) -> list[tuple[Path, Path, str]]:
    """[(image, mask, stem)] matched by name; one error naming every unmatched file."""
    images = {p.stem: p for p in _listdir(image_dir, IMAGE_EXTENSIONS)}
    masks = {(p.stem[:-5] if p.stem.lower().endswith("_mask") else p.stem): p for p in _listdir(mask_dir, _MASK_EXTS)}
    missing, orphans = sorted(images.keys() - masks.keys()), sorted(masks.keys() - images.keys())
    if missing or orphans:

        def listing(names: list[str], fmt) -> str:
            shown = ", ".join(fmt(n) for n in names[:5])
            return f"{shown}{f' and {len(names) - 5} more' if len(names) > 5 else ''}"

        parts = []
        if missing:
            parts.append(
                f"{len(missing)} image(s) without a mask: "
                + listing(missing, lambda n: f"{images[n].name} (expected {n}_mask.gif)")
            )
        if orphans:
            parts.append(f"{len(orphans)} mask(s) without an image: " + listing(orphans, lambda n: masks[n].name))
        raise ValueError(
            f"CarvanaDataset: images in {image_dir} and masks in {mask_dir} do not pair up; "
            + "; ".join(parts)
            + ". Each image <car>_<NN>.jpg needs a mask <car>_<NN>_mask.gif (or "
            ".png, or the image's own name); rename the files, or re-extract an incomplete download"
        )
    empty = [p for k in sorted(images) for p in (images[k], masks[k]) if p.stat().st_size == 0]
    if empty:
        raise ValueError(f"CarvanaDataset: {len(empty)} empty file(s), e.g. {empty[0]}; re-extract the download")
    return [(images[k], masks[k], k) for k in sorted(images)]


def load_object_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a segmentation mask file (Carvana's GIFs, or PNGs) as bool (H, W), True = object.

    Any nonzero grey level is object; palettes are mapped to grey first, so the order of
    a GIF palette does not matter. Only the first frame of an animated file is read.

    Raises:
        ImageLoadError: missing, empty, oversized or undecodable file (names it and why).
    """
    with decoded_image(path) as im:
        if im.mode.startswith("I") or im.mode == "F":
            return np.asarray(im) > 0
        return np.asarray(im.convert("L")) > 0


def _augment_pair(
    image: torch.Tensor,
    mask: torch.Tensor,
    rng: np.random.Generator,
    max_degrees: float = 10.0,
    scale: tuple[float, float] = (0.9, 1.1),
):
    """The same random h-flip, rotation and zoom for image (bilinear) and mask (nearest), reflected at borders."""
    _, h, w = image.shape
    a, s = math.radians(rng.uniform(-max_degrees, max_degrees)), rng.uniform(*scale)
    cos, sin = math.cos(a) / s, math.sin(a) / s
    # rotation in pixel units expressed in affine_grid's [-1, 1] coordinates (x spans w, y spans h)
    theta = torch.tensor([[cos, -sin * h / w, 0.0], [sin * w / h, cos, 0.0]], dtype=torch.float32)
    if rng.random() < 0.5:
        theta[:, 0] *= -1  # horizontal flip
    grid = F.affine_grid(theta[None], [1, 1, h, w], align_corners=False)
    image = F.grid_sample(image[None], grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    mask = F.grid_sample(mask[None], grid, mode="nearest", padding_mode="reflection", align_corners=False)
    return image[0].clamp_(0, 1), mask[0]


class CarvanaDataset(Dataset):
    """Kaggle's Carvana car photos and masks: {"image": (3, H, W), "mask": (1, H, W), "id": "<car>_<NN>"}.

    Args:
        root: the folder holding train/ and train_masks/ (also accepted: one folder deeper,
            and Kaggle's train/train/ nesting).
        size: (height, width) output size, or None for full resolution (1280 x 1918).
            Images are resized bilinearly, masks with nearest neighbour (they stay binary).
        split: "train", "val" or "all"; split by car, all 16 views of a car on one side.
        val_fraction: fraction of cars in val.
        seed: seed of the car-level split.
        augment: random h-flip, +-10 degree rotation and 0.9-1.1 zoom applied to image and
            mask together; default True for split="train". Drawn from torch's RNG
            (distinct per DataLoader worker, reproducible under torch.manual_seed).

    Raises:
        FileNotFoundError: root or the Kaggle layout is missing.
        ValueError: images and masks do not pair up (names the unmatched files) or bad args.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        size: tuple[int, int] | None = (160, 240),
        split: str = "train",
        val_fraction: float = 0.1,
        seed: int = 0,
        augment: bool | None = None,
    ):
        if split not in ("train", "val", "all"):
            raise ValueError(f"split must be 'train', 'val' or 'all', got {split!r}")
        self.root, self.size, self.split = user_path(root), _size_hw(size), split  # absolute once
        self.augment = split == "train" if augment is None else bool(augment)
        self.image_dir, self.mask_dir = _find_layout(self.root)
        pairs = _match_images_to_masks(self.image_dir, self.mask_dir)
        cars = sorted({_car_id(stem) for _, _, stem in pairs})
        train, val = split_indices(len(cars), val_fraction if split != "all" else 0.0, seed)
        keep = {cars[i] for i in (train + val if split == "all" else train if split == "train" else val)}
        if not keep:
            raise ValueError(
                f"CarvanaDataset: split={split!r} is empty with val_fraction={val_fraction} and "
                f"{len(cars)} car(s); use val_fraction > 0 and at least two cars"
            )
        self.samples = [pair for pair in pairs if _car_id(pair[2]) in keep]
        self.cars = sorted(keep)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        image_path, mask_path, stem = self.samples[check_index(index, len(self))]
        draft = None if self.size is None else (self.size[1], self.size[0])
        image, mask = load_image(image_path, draft_size=draft), load_object_mask(mask_path)
        out_wh = draft or image.size
        if image.size != out_wh:
            image = image.resize(out_wh, Image.Resampling.BILINEAR)
        if mask.shape[::-1] != out_wh:
            mask = np.asarray(Image.fromarray(mask).resize(out_wh, Image.Resampling.NEAREST))
        image_t = to_tensor(image)  # (3, H, W)
        mask_t = torch.from_numpy(mask.astype(np.float32))[None]  # (1, H, W)
        if self.augment:
            image_t, mask_t = _augment_pair(image_t, mask_t, item_rng(None))
        return {"image": image_t, "mask": mask_t, "id": stem}


def _draw_shape(draw: ImageDraw.ImageDraw, kind: str, h: int, w: int, rng: np.random.Generator) -> None:
    """Draw one filled shape (value 255) at a random place and size."""
    cx, cy, r = rng.uniform(0.2, 0.8) * w, rng.uniform(0.25, 0.75) * h, rng.uniform(0.12, 0.3) * min(h, w)
    if kind == "ellipse":
        rx, ry = r * rng.uniform(0.6, 1.6), r * rng.uniform(0.6, 1.6)
        draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=255)
    elif kind == "polygon":  # star-shaped: sorted angles, random radii
        angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 9))))
        radii = r * rng.uniform(0.5, 1.5, len(angles))
        draw.polygon([(cx + q * np.cos(t), cy + q * np.sin(t)) for t, q in zip(angles, radii)], fill=255)
    else:  # "car": rounded body, rounded cabin on top, two wheels
        bw, bh = r * rng.uniform(2.2, 3.2), r * rng.uniform(0.6, 0.9)
        draw.rounded_rectangle([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], radius=bh / 3, fill=255)
        cw, ch, shift = bw * rng.uniform(0.45, 0.65), bh * rng.uniform(0.6, 0.9), bw * rng.uniform(-0.1, 0.1)
        draw.rounded_rectangle(
            [cx + shift - cw / 2, cy - bh / 2 - ch, cx + shift + cw / 2, cy - bh / 4], radius=ch / 2.5, fill=255
        )
        for wx in (cx - bw / 3, cx + bw / 3):
            draw.ellipse([wx - bh / 2.2, cy + bh / 2 - bh / 2.2, wx + bh / 2.2, cy + bh / 2 + bh / 2.2], fill=255)


class SyntheticShapesDataset(Dataset):
    """Offline stand-in for Carvana: random shapes with exact masks over sample-photo crops.

    Each item composites one to three shapes (car-like rounded boxes with wheels, ellipses,
    star polygons), each filled with a shaded random colour, over a random crop of a
    scikit-image sample photo. The mask is the union of the shapes, exact by construction.
    Items come from a Generator seeded by (seed, split, index, epoch): reproducible, the
    same in any DataLoader worker. Train and val use disjoint photos and seed streams.

    Args:
        size: (height, width) or an int for squares.
        length: number of items.
        split: "train" or "val".
        seed: base seed.

    Returns items {"image": (3, H, W) in [0, 1], "mask": (1, H, W) {0, 1}, 1 = shape, "id": str}.
    """

    def __init__(
        self, size: int | tuple[int, int] = (160, 240), length: int = 1000, split: str = "train", seed: int = 0
    ):
        if split not in ("train", "val"):
            raise ValueError(f"split must be 'train' or 'val', got {split!r}")
        self.size, self.length = _size_hw(size), check_size(length, "length")
        self.split, self.seed, self.epoch = split, int(seed), 0
        self.names = sample_names(split)

    def set_epoch(self, epoch: int) -> None:
        """New scenes for a new epoch (train only; val never changes)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        index = check_index(index, self.length)
        h, w = self.size
        train = self.split == "train"
        rng = item_rng(self.seed, 0 if train else 1, index, self.epoch if train else 0)
        name = self.names[int(rng.integers(len(self.names)))]
        image = np.asarray(sample_crop(name, h, w, rng, flip=True), dtype=np.float32) / 255  # (H, W, 3)
        union = np.zeros((h, w, 1), np.float32)
        yy, xx = np.mgrid[-1 : 1 : h * 1j, -1 : 1 : w * 1j].astype(np.float32)[..., None]  # (H, W, 1) each
        for kind in rng.choice(["car", "ellipse", "polygon"], size=int(rng.integers(1, 4)), p=[0.5, 0.25, 0.25]):
            canvas = Image.new("L", (w, h), 0)
            _draw_shape(ImageDraw.Draw(canvas), str(kind), h, w, rng)
            shape = (np.asarray(canvas) > 0).astype(np.float32)[..., None]  # (H, W, 1), exact mask
            gx, gy = (
                float(g) for g in rng.uniform(-0.25, 0.25, 2)
            )  # a linear shading makes shapes less trivial to segment
            fill = np.clip(rng.uniform(0.05, 0.95, 3).astype(np.float32) + gx * xx + gy * yy, 0, 1)  # (H, W, 3)
            image = shape * fill + (1 - shape) * image
            union = np.maximum(union, shape)
        image = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))  # (3, H, W)
        union = torch.from_numpy(np.ascontiguousarray(union.transpose(2, 0, 1)))  # (1, H, W)
        return {"image": image, "mask": union, "id": f"synthetic-{self.split}-{index}"}
