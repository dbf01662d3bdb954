"""Images for inpainting: robust loading, photo-folder datasets, and pairing images with masks.

Everything here serves float32 (3, H, W) images in [0, 1]; `InpaintingDataset` pairs them
with (1, H, W) masks (1 = valid, 0 = hole) into the `{"image", "mask"}` items the trainer
reads. Real photo folders are messy (CMYK JPEGs, 16-bit PNGs, EXIF rotation, truncated
downloads), so `load_image` normalises them all to RGB and `ImageFolderDataset` skips and
reports files that cannot be decoded instead of crashing mid-epoch.

Randomness: an item's augmentation comes from a numpy Generator seeded with
(seed, index, epoch), or, with `seed=None`, from torch's global RNG, which DataLoader
seeds differently in every worker. This is also the public face of the other data
modules: the offline sample photos (`sample_images`, `SampleImageDataset`, in
pconv/samples.py) and segmentation data (`CarvanaDataset`, `SyntheticShapesDataset`, in
pconv/segdata.py) are re-exported here.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from pconv.utils import check_binary_mask, check_size

if TYPE_CHECKING:  # re-exported lazily by __getattr__ at the end: those modules import this one
    from pconv.samples import SampleImageDataset, sample_images
    from pconv.segdata import CarvanaDataset, SyntheticShapesDataset

__all__ = [
    "IMAGE_EXTENSIONS",
    "CarvanaDataset",
    "ImageFolderDataset",
    "ImageLoadError",
    "InpaintingDataset",
    "SampleImageDataset",
    "SyntheticShapesDataset",
    "default_num_workers",
    "find_images",
    "load_image",
    "sample_images",
    "split_files",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_EXIF_ORIENTATION = 0x0112


class ImageLoadError(OSError):
    """An image file that cannot be decoded; `.path` names the file, `.reason` says why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"cannot load image {self.path}: {reason}")

    def __reduce__(self):  # survives pickling out of a DataLoader worker
        return type(self), (self.path, self.reason)


def load_image(
    path: str | os.PathLike,
    *,
    background: tuple[int, int, int] = (255, 255, 255),
    draft_size: tuple[int, int] | None = None,
) -> Image.Image:
    """Decode any common image file to an RGB PIL image, EXIF orientation applied.

    Transparent images (RGBA, LA, palette with transparency) are composited over
    `background` (white by default). 16-bit and 32-bit greyscale are rescaled to 8 bits
    (I;16 by 1/257; "I"/"F" by their value range), never clipped. The file is fully decoded
    here, so truncation is caught here and not later.

    Args:
        path: the image file.
        background: RGB 0..255 colour under transparent pixels.
        draft_size: (width, height); lets JPEG decode at a reduced scale no smaller than this.

    Raises:
        ImageLoadError: missing, empty, truncated, corrupt or non-image file (names it and why).
    """
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(path, "is a directory, not a file" if path.is_dir() else "no such file")
    if path.stat().st_size == 0:
        raise ImageLoadError(path, "the file is empty (0 bytes); re-download it or delete it")
    try:
        with Image.open(path) as im:
            if draft_size is not None and im.format == "JPEG":
                w, h = draft_size
                if im.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8):
                    w, h = h, w  # the stored image is rotated by 90 degrees
                im.draft(None, (w, h))
            im.load()
            with contextlib.suppress(Exception):  # malformed EXIF: keep the pixels as stored
                im = ImageOps.exif_transpose(im)
            return _to_rgb(im, background)
    except UnidentifiedImageError:
        raise ImageLoadError(
            path, "not a recognised image format (check the file's contents, not just its extension)"
        ) from None
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, struct.error, ... on bad data
        raise ImageLoadError(
            path,
            f"decoding failed ({type(e).__name__}: {e}); the file is probably truncated "
            "or corrupt: re-download it or delete it",
        ) from e


def _to_rgb(im: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Any PIL mode -> a new RGB image (see `load_image` for the rules)."""
    if im.mode.startswith("I") or im.mode == "F":  # 16/32-bit grey: PIL's convert would clip at 255
        a = np.nan_to_num(np.asarray(im, dtype=np.float64))
        lo, hi = float(a.min()), float(a.max())
        if im.mode.startswith("I;16"):
            a = a / 65535
        elif im.mode == "F" and lo >= 0 and hi <= 1:
            pass
        elif lo >= 0 and hi <= 255:
            a = a / 255
        elif lo >= 0 and hi <= 65535:
            a = a / 65535
        else:
            a = (a - lo) / max(hi - lo, 1e-12)
        return Image.fromarray(np.clip(np.rint(a * 255), 0, 255).astype(np.uint8), "L").convert("RGB")
    if im.mode in ("RGBA", "RGBa", "LA", "La", "PA") or (im.mode == "P" and "transparency" in im.info):
        base = Image.new("RGBA", im.size, (*background, 255))
        return Image.alpha_composite(base, im.convert("RGBA")).convert("RGB")
    return im.convert("RGB")  # 1, L, P, CMYK, YCbCr, RGB (always a new image)


def _to_tensor(im: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float32 (3, H, W) tensor in [0, 1]."""
    a = np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)  # (3, H, W)
    # numpy, not torch ops: these small ops run in every worker, where torch's thread pool only adds overhead
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32) / np.float32(255))


def _item_rng(seed: int | None, *key: int) -> np.random.Generator:
    """Per-item Generator: from (seed, *key), or from torch's worker-aware global RNG if seed is None."""
    if seed is None:
        return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
    return np.random.default_rng([int(seed), *(int(k) for k in key)])


def _check_index(index: int, length: int) -> int:
    if not -length <= index < length:
        raise IndexError(f"index {index} out of range for a dataset of length {length}")
    return index % length


def _split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic random partition of range(n); val gets >= 1 item when val_fraction > 0 and n >= 2."""
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    n_val = round(n * val_fraction)
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    val = set(perm[:n_val].tolist())
    return [i for i in range(n) if i not in val], sorted(val)


def split_files(
    files: Sequence[str | os.PathLike], val_fraction: float = 0.1, seed: int = 0
) -> tuple[list[Path], list[Path]]:
    """Split files into disjoint, sorted (train, val) lists, the same for the same seed."""
    files = sorted({Path(f) for f in files})
    train, val = _split_indices(len(files), val_fraction, seed)
    return [files[i] for i in train], [files[i] for i in val]


def find_images(root: str | os.PathLike) -> list[Path]:
    """Image files under `root`, recursively, in sorted order.

    Extensions (IMAGE_EXTENSIONS) match case-insensitively; hidden files and folders and
    macOS `__MACOSX` folders are ignored. Files are not opened here.
    """
    root = Path(root).expanduser()
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__MACOSX"]
        found += [
            Path(dirpath, f)
            for f in filenames
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS
        ]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _sniff(head: bytes) -> str | None:
    """The image format from a file's first bytes, for the common formats; None if unrecognised."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    magic = {
        b"\xff\xd8\xff": "JPEG",
        b"\x89PNG\r\n\x1a\n": "PNG",
        b"GIF8": "GIF",
        b"BM": "BMP",
        b"II*\x00": "TIFF",
        b"MM\x00*": "TIFF",
    }
    return next((fmt for m, fmt in magic.items() if head.startswith(m)), None)


def _quick_check(path: Path) -> str | None:
    """Why `path` cannot be an image (a cheap header + trailer test), or None if it looks fine."""
    try:
        size = path.stat().st_size
        if size == 0:
            return "the file is empty (0 bytes)"
        with open(path, "rb") as f:
            head = f.read(16)
            f.seek(max(0, size - 1024))
            tail = f.read()
        fmt = _sniff(head)
        if fmt is None:  # not a common signature: let PIL's format detection decide
            with Image.open(path):
                pass
    except UnidentifiedImageError:
        return "not a recognised image format"
    except Exception as e:  # noqa: BLE001 (any failure here means: skip the file, say why)
        return f"cannot read the file ({type(e).__name__}: {e})"
    if (fmt == "JPEG" and b"\xff\xd9" not in tail) or (fmt == "PNG" and b"IEND" not in tail):
        try:  # no end marker: truncated, or valid with trailing data (e.g. motion photos); decode to know
            load_image(path)
        except ImageLoadError as e:
            return e.reason
    return None


def _warn_skipped(root: Path, skipped: list[tuple[Path, str]]) -> None:
    lines = [f"  {p}: {why}" for p, why in skipped[:10]]
    more = f"\n  ... and {len(skipped) - 10} more (see .skipped)" if len(skipped) > 10 else ""
    warnings.warn(
        f"ImageFolderDataset({root}): skipping {len(skipped)} unreadable file(s):\n" + "\n".join(lines) + more,
        stacklevel=3,
    )


class ImageFolderDataset(Dataset):
    """All images under a folder (recursively) as float32 (3, size, size) tensors in [0, 1].

    Each image's shorter side is resized to `size` (small images are upscaled), then a
    square is cropped: random position plus a random horizontal flip when `train`, centre
    crop otherwise. Files whose header or trailer shows them unreadable are skipped up
    front; a file that fails to decode later is replaced by the next readable one (so a
    bad file never stops an epoch) and added to `.skipped` (in that process only).

    Args:
        root: the folder; `files` are resolved relative to it.
        size: output side in pixels.
        train: random crop and flip (True) or centre crop (False).
        files: use these files instead of scanning `root` (see `split_files`, `split`).
        seed: augmentation seed; None uses torch's global RNG (distinct per DataLoader worker).
        check: test every file's header up front (set False to start faster on huge folders).

    Attributes:
        files: the readable files, sorted. skipped: list of (path, reason).
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
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"ImageFolderDataset: root folder {self.root} does not exist (or is not a "
                "folder); pass the folder that holds your images, e.g. data/celeba"
            )
        self.size, self.train, self.seed, self.epoch = check_size(size), bool(train), seed, 0
        candidates = find_images(self.root) if files is None else [self.root / f for f in files]
        if not candidates:
            what = (
                "the given `files` list is empty"
                if files is not None
                else f"no files with extensions {', '.join(IMAGE_EXTENSIONS)} under it (hidden files are ignored)"
            )
            raise ValueError(
                f"ImageFolderDataset: no images in {self.root}: {what}; check the path and that the "
                "download or extraction finished"
            )
        self.skipped: list[tuple[Path, str]] = []
        self.files: list[Path] = []
        for p in candidates:
            reason = _quick_check(p) if check else None
            if reason is None:
                self.files.append(p)
            else:
                self.skipped.append((p, reason))
        if self.skipped:
            _warn_skipped(self.root, self.skipped)
        if not self.files:
            raise ValueError(
                f"ImageFolderDataset: none of the {len(candidates)} image file(s) in {self.root} "
                f"could be read, e.g. {self.skipped[0][0]}: {self.skipped[0][1]}"
            )
        self._bad: set[int] = set()

    @classmethod
    def split(
        cls, root: str | os.PathLike, size: int = 256, val_fraction: float = 0.1, seed: int = 0, **kwargs: Any
    ) -> tuple[ImageFolderDataset, ImageFolderDataset]:
        """(train, val) datasets over a deterministic file-level split of `root` (see `split_files`)."""
        train_files, val_files = split_files(find_images(root), val_fraction, seed)
        return cls(root, size, True, files=train_files, **kwargs), cls(root, size, False, files=val_files, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        """Vary the augmentation between epochs when a fixed `seed` is used."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        n = len(self.files)
        index = _check_index(index, n)
        for i in ((index + k) % n for k in range(n)):
            if i in self._bad:
                continue
            try:
                im = load_image(self.files[i], draft_size=(self.size, self.size))
            except ImageLoadError as e:
                self._bad.add(i)
                self.skipped.append((e.path, e.reason))
                warnings.warn(
                    f"ImageFolderDataset: skipping unreadable {e.path}: {e.reason} "
                    "(the next readable file is used instead)",
                    stacklevel=2,
                )
                continue
            return self._transform(im, index)  # keyed on `index`, so retries stay deterministic
        raise RuntimeError(
            f"ImageFolderDataset: none of the {n} files in {self.root} could be decoded; see the warnings above"
        )

    def _transform(self, im: Image.Image, index: int) -> torch.Tensor:
        w, h = im.size
        s = min(w, h)  # resizing the shorter side to `size` = resizing an s x s crop
        rng = _item_rng(self.seed, index, self.epoch) if self.train else None
        x0 = int(rng.integers(0, w - s + 1)) if rng is not None else (w - s) // 2
        y0 = int(rng.integers(0, h - s + 1)) if rng is not None else (h - s) // 2
        im = im.resize((self.size, self.size), Image.Resampling.BICUBIC, box=(x0, y0, x0 + s, y0 + s))
        if rng is not None and rng.random() < 0.5:
            im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return _to_tensor(im)  # (3, size, size)


# --- pairing images with masks --------------------------------------------------------------------
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
        index = _check_index(index, len(self))
        image = torch.as_tensor(_field(self.images[index], "image")).to(torch.float32)
        if image.ndim != 3 or image.shape[0] != 3:
            raise ValueError(
                f"InpaintingDataset: images[{index}] must be a (3, H, W) tensor in [0, 1], "
                f"got shape {tuple(image.shape)}"
            )
        if self.pairing == "cycle":
            j = index % len(self.masks)
        else:
            j = int(_item_rng(self.seed, index, self.epoch).integers(len(self.masks)))
        mask = torch.as_tensor(_field(self.masks[j], "mask")).to(torch.float32)
        mask = mask[None] if mask.ndim == 2 else mask
        if mask.ndim != 3 or mask.shape[0] != 1:
            raise ValueError(f"InpaintingDataset: masks[{j}] must be (1, H, W) or (H, W), got {tuple(mask.shape)}")
        check_binary_mask(mask, name=f"InpaintingDataset: masks[{j}]")
        if mask.shape[-2:] != image.shape[-2:]:
            mask = F.interpolate(mask[None], size=image.shape[-2:], mode="nearest-exact")[0]
            mask = (mask > 0.5).to(torch.float32)
        return {"image": image, "mask": mask}  # (3, H, W), (1, H, W)


def default_num_workers() -> int:
    """A safe DataLoader `num_workers` for notebooks.

    0 with two or fewer CPUs, and 0 in Jupyter when workers start by spawning (Windows,
    macOS), where code defined in notebook cells cannot reach them; else min(4, CPUs - 1).
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    if cpus <= 2:
        return 0
    method = multiprocessing.get_start_method(allow_none=True) or (
        "spawn" if sys.platform in ("win32", "darwin") else "fork"
    )
    if method != "fork" and "ipykernel" in sys.modules:
        return 0
    return min(4, cpus - 1)


_REEXPORTS = {
    "sample_images": "samples",
    "SampleImageDataset": "samples",
    "CarvanaDataset": "segdata",
    "SyntheticShapesDataset": "segdata",
}


def __getattr__(name: str) -> Any:
    """Re-export pconv.samples and pconv.segdata lazily: both import this module."""
    if name in _REEXPORTS:
        module = importlib.import_module(f"pconv.{_REEXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
