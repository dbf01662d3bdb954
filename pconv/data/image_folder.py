"""Your own photos for inpainting: `ImageFolderDataset`, a folder as float32 (3, H, W) crops in [0, 1].

Real folders are messy (CMYK JPEGs, 16-bit PNGs, EXIF rotation, truncated downloads), so
every file is checked up front and bad ones are skipped and reported instead of crashing
mid-epoch; `ImageFolderDataset.split` is the robust way to get train and val from one
folder (`split_files` alone splits a list without opening it). An item's augmentation
comes from a Generator seeded with (seed, index, epoch), or, with `seed=None`, from
torch's RNG (distinct per worker).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset

from pconv.data.dataset_items import check_index, item_rng, split_indices
from pconv.data.image_files import (
    IMAGE_EXTENSIONS,
    find_images,
    read_with_fallback,
    readable_images,
    walk_folders,
    warn_skipped,
)
from pconv.data.image_io import ImageLoadError, load_image, to_tensor
from pconv.utils import check_size, user_path

__all__ = ["ImageFolderDataset", "split_files"]

_DECODE_LIMIT = 256  # files `split` decodes up front (see `_decodable_split`): a second or so at most


def split_files(
    files: Sequence[str | os.PathLike], val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[Path], list[Path]]:
    """Split files into disjoint, sorted (train, val) lists, the same for the same seed.

    Files are not opened: to split a folder of images, `ImageFolderDataset.split` checks
    them first, so that an unreadable file cannot take a place in the validation split.
    """
    files = sorted({Path(f) for f in files})
    train, val = split_indices(len(files), val_fraction, seed)
    return [files[i] for i in train], [files[i] for i in val]


def _no_images(root: Path) -> str:
    """Why a scan of `root` found no images: the folder is empty, or what it holds instead."""
    others = []
    for dirpath, filenames in walk_folders(root):
        others += [Path(dirpath, f).relative_to(root).as_posix() for f in filenames]
    if not others:
        return f"the folder {root} is empty (hidden files are ignored)"
    shown = ", ".join(sorted(others)[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
    return (
        f"{root} holds {len(others)} file(s) but none with an image extension ({', '.join(IMAGE_EXTENSIONS)}): {shown}"
    )


def _readable(root: Path, candidates: list[Path], check: bool, size: int) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(readable files, [(skipped file, reason)]) of `candidates`; one warning for the skipped ones.

    Raises:
        ValueError: no candidates, or none of them readable (names the folder and a bad file).
    """
    files, skipped = readable_images(candidates) if check else (list(candidates), [])
    if check and len(files) <= _DECODE_LIMIT:  # a small set: decode it now, so a corrupt file is reported up front
        bad = _undecodable(files, size)
        files, skipped = [f for f in files if f not in {p for p, _ in bad}], skipped + bad
    if skipped:
        warn_skipped(f"ImageFolderDataset({root})", skipped, stacklevel=3)  # the caller of the dataset or .split
    if not files:
        raise ValueError(
            f"ImageFolderDataset: none of the {len(candidates)} image file(s) in {root} "
            f"could be read, e.g. {skipped[0][0]}: {skipped[0][1]}"
        )
    return files, skipped


def _check_root(root: str | os.PathLike) -> Path:
    """`root` resolved once (`~` expanded, then absolute), so file paths never depend on the current folder."""
    try:
        root = user_path(root)
    except ValueError:
        raise ValueError("ImageFolderDataset: root is empty; pass the folder that holds your images") from None
    if not root.is_dir():
        raise FileNotFoundError(
            f"ImageFolderDataset: root folder {root} does not exist (or is not a "
            "folder); pass the folder that holds your images, e.g. data/celeba"
        )
    return root


def _undecodable(files: Sequence[Path], size: int) -> list[tuple[Path, str]]:
    """[(file, why)] for those of `files` whose pixels fail to decode (the header test cannot see that)."""
    bad = []
    for f in files:
        try:
            load_image(f, draft_size=(size, size))
        except ImageLoadError as e:
            bad.append((f, e.reason))
    return bad


def _decodable_split(
    files: list[Path], val_fraction: float, seed: int, size: int
) -> tuple[list[Path], list[tuple[Path, str]]]:
    """(`files` minus those that fail to decode, [(bad file, why)]), decoding what a split cannot do without.

    A small folder (at most `_DECODE_LIMIT` files) is decoded whole, so a bad file is reported
    once, up front, on either side. In a larger one only the val files of the split are
    decoded (again after dropping a bad one), while there are at most `_DECODE_LIMIT` of
    them: a bad train file is replaced when read, and a large val side cannot be emptied.
    """
    if len(files) <= _DECODE_LIMIT:
        bad = _undecodable(files, size)
        return [f for f in files if f not in {p for p, _ in bad}], bad
    bad_all: list[tuple[Path, str]] = []
    decoded: set[Path] = set()
    while len(files) >= 2:
        val = split_files(files, val_fraction, seed)[1]
        if len(val) > _DECODE_LIMIT:
            break
        bad = _undecodable([f for f in val if f not in decoded], size)
        decoded.update(val)
        if not bad:
            break
        bad_all += bad
        files = [f for f in files if f not in {p for p, _ in bad}]
    return files, bad_all


def _scan(root: Path) -> list[Path]:
    found = find_images(root)
    if not found:
        raise ValueError(
            f"ImageFolderDataset: no images in {root}: {_no_images(root)}; check the path and that the "
            "download or extraction finished"
        )
    return found


class ImageFolderDataset(Dataset):
    """All images under a folder (recursively) as float32 (3, size, size) tensors in [0, 1].

    Each image's shorter side is resized to `size` (small images are upscaled), then a
    square is cropped: random position plus a random horizontal flip when `train`, centre
    crop otherwise. Files whose header or trailer shows them unreadable (empty, truncated,
    not an image, or claiming more than PIL.Image.MAX_IMAGE_PIXELS pixels) are skipped up
    front; a file that fails to decode later is replaced by the next readable one (so a
    bad file never stops an epoch) and added to `.skipped` (in that process only).

    Args:
        root: the folder (`~` expanded, then made absolute once); relative `files` are
            resolved against it, so `.files` holds absolute paths.
        size: output side in pixels.
        train: random crop and flip (True) or centre crop (False).
        files: use these files instead of scanning `root` (see `split`).
        seed: augmentation seed; None uses torch's global RNG (distinct per DataLoader worker).
        check: test every file's header up front (set False to start faster on huge folders).

    Attributes:
        files: the readable files, sorted. skipped: list of (path, reason).

    Raises:
        FileNotFoundError: `root` is not a folder.
        ValueError: no image files (says whether the folder is empty or what it holds
            instead), or none of them readable, or a bad `size`.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        size: int = 256,
        train: bool = True,
        files: Sequence[str | os.PathLike] | None = None,
        *,
        seed: int | None = None,
        check: bool = True,
    ):
        self.root = _check_root(root)
        self.size, self.train, self.seed, self.epoch = check_size(size), bool(train), seed, 0
        if files is None:
            candidates = _scan(self.root)
        elif not files:
            raise ValueError(f"ImageFolderDataset({self.root}): the given `files` list is empty")
        else:
            candidates = [self.root / f for f in files]
        self.files, self.skipped = _readable(self.root, candidates, check, self.size)
        self._bad: set[int] = set()

    @classmethod
    def split(
        cls,
        root: str | os.PathLike,
        size: int = 256,
        val_fraction: float = 0.1,
        seed: int = 0,
        *,
        check: bool = True,
        augment_seed: int | None = None,
    ) -> tuple[ImageFolderDataset, ImageFolderDataset]:
        """(train, val) datasets over a deterministic file-level split of the readable images under `root`.

        The way to train and validate on one folder: every file is checked first and only
        the readable ones are split (with `split_files`), so an unreadable file is skipped
        and reported once, and can never take a place in (or empty) the validation split.
        Files whose header is fine but whose pixels are corrupt are found by decoding the
        folder (at most `_DECODE_LIMIT` files) or the val side of a larger one up front.
        Both datasets list the skipped files in `.skipped`.

        Args:
            root: the folder of images (searched recursively).
            size: output side in pixels.
            val_fraction: fraction of the readable files in val, in (0, 1); val gets at least one.
            seed: seed of the split (the file order is sorted first, so it is the same on every machine).
            check: test every file's header and trailer first (False: split all image files unchecked).
            augment_seed: `seed` of the train dataset's crops and flips; None uses torch's RNG.

        Returns:
            (train, val): random crops and flips over the train files; centre crops of the val files.

        Raises:
            FileNotFoundError: `root` is not a folder.
            ValueError: no images (empty folder, or only other files), none readable, fewer than
                two readable images, or a `val_fraction` outside (0, 1).
        """
        root = _check_root(root)
        if not 0 < val_fraction < 1:
            raise ValueError(
                f"ImageFolderDataset.split: val_fraction must be in (0, 1), got {val_fraction!r}; "
                "for training without validation use ImageFolderDataset(root)"
            )
        found = _scan(root)
        readable, skipped = readable_images(found) if check else (list(found), [])
        if check:  # a file can pass the header test and still fail to decode: keep those out up front
            readable, bad = _decodable_split(readable, val_fraction, seed, size)
            skipped += bad
        train_files, val_files = split_files(readable, val_fraction, seed)
        if skipped:
            warn_skipped(f"ImageFolderDataset({root})", skipped)  # once, whichever side a bad file fell on
        if len(readable) < 2:
            raise ValueError(
                f"ImageFolderDataset.split: only {len(readable)} readable image(s) of {len(found)} in {root}; "
                "need at least two to split into train and val"
                + (f", e.g. {skipped[0][0]}: {skipped[0][1]}" if skipped else "")
            )
        train = cls(root, size, True, files=train_files, seed=augment_seed, check=False)
        val = cls(root, size, False, files=val_files, check=False)
        train.skipped, val.skipped = list(skipped), list(skipped)
        return train, val

    def set_epoch(self, epoch: int) -> None:
        """Vary the augmentation between epochs when a fixed `seed` is used."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        index = check_index(index, len(self.files))
        read = functools.partial(load_image, draft_size=(self.size, self.size))
        im = read_with_fallback(self.files, index, read, self._bad, self.skipped, f"ImageFolderDataset({self.root})")
        return self._transform(im, index)  # keyed on `index`, so a replaced file stays deterministic

    def _transform(self, im: Image.Image, index: int) -> torch.Tensor:
        w, h = im.size
        s = min(w, h)  # resizing the shorter side to `size` = resizing an s x s crop
        rng = item_rng(self.seed, index, self.epoch) if self.train else None
        x0 = int(rng.integers(0, w - s + 1)) if rng is not None else (w - s) // 2
        y0 = int(rng.integers(0, h - s + 1)) if rng is not None else (h - s) // 2
        im = im.resize((self.size, self.size), Image.Resampling.BICUBIC, box=(x0, y0, x0 + s, y0 + s))
        if rng is not None and rng.random() < 0.5:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return to_tensor(im)  # (3, size, size)
