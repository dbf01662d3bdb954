"""What every dataset module shares: reading image files safely, and the per-item plumbing.

Real photo folders are messy (CMYK JPEGs, 16-bit PNGs, EXIF rotation, truncated downloads,
headers that claim absurd sizes), so files are opened here once, by one set of rules:
`open_image` reads the header and refuses missing, empty, non-image and oversized files
before any pixel is decoded; `load_image` decodes to RGB; `probe_image` is the cheap
up-front test that lets datasets skip bad files before training starts. The per-item
helpers (`check_index`, `item_rng`, `split_indices`, `to_tensor`) keep the datasets of
pconv.data.image_folder, .samples, .seg_datasets and .masks indexing, seeding and
splitting alike. Everything public here is re-exported from `pconv.data.image_folder`, the package's face.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageLoadError",
    "check_index",
    "decoded_image",
    "find_images",
    "item_rng",
    "load_image",
    "open_image",
    "probe_image",
    "read_with_fallback",
    "readable_images",
    "split_indices",
    "to_tensor",
    "walk_folders",
    "warn_skipped",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_EXIF_ORIENTATION = 0x0112
_FULL_16BIT = 4096  # an "I" image reaching this far is taken as 16-bit (12-bit data and less: its own range)
T = TypeVar("T")


class ImageLoadError(OSError):
    """An image file that cannot be decoded; `.path` names the file, `.reason` says why."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"cannot load image {self.path}: {reason}")

    def __reduce__(self):  # survives pickling out of a DataLoader worker
        return type(self), (self.path, self.reason)


def _too_large(w: int, h: int, limit: int) -> str:
    return (
        f"its header claims {w} x {h} = {w * h:,} pixels, more than the limit of {limit:,} "
        "(PIL.Image.MAX_IMAGE_PIXELS): a decompression bomb or a corrupt header. Delete the file, or "
        "if it is a genuine huge image, downscale it (or raise PIL.Image.MAX_IMAGE_PIXELS)"
    )


@contextlib.contextmanager
def open_image(path: str | os.PathLike) -> Iterator[Image.Image]:
    """Open an image file lazily (header only), refusing it before any pixel is decoded.

    The pixel limit is PIL's `Image.MAX_IMAGE_PIXELS` (about 89 million by default; None
    turns it off), read at every call, so one setting governs every reader in pconv.

    Yields:
        The PIL image, not yet decoded (`.size`, `.mode`, `.format` are known); closed after.

    Raises:
        ImageLoadError: missing, empty, non-image or unreadable file, or a header claiming
            more pixels than the limit (a decompression bomb); names the file and why.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageLoadError(path, "is a directory, not a file" if path.is_dir() else "no such file")
    if path.stat().st_size == 0:
        raise ImageLoadError(path, "the file is empty (0 bytes); re-download it or delete it")
    try:
        with warnings.catch_warnings():  # PIL only warns up to 2x its limit; refused below instead
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except UnidentifiedImageError:
        raise ImageLoadError(
            path, "not a recognised image format (check the file's contents, not just its extension)"
        ) from None
    except Image.DecompressionBombError as e:  # over 2x the limit: PIL refuses before we see the size
        raise ImageLoadError(path, f"{e} Delete the file, or downscale it if it is a genuine image") from None
    except Exception as e:  # PermissionError, or a header PIL cannot parse (OSError, SyntaxError, ...)
        raise ImageLoadError(path, f"cannot read the file's header ({type(e).__name__}: {e})") from e
    with im:
        w, h = im.size
        limit = Image.MAX_IMAGE_PIXELS
        if limit and w * h > limit:
            raise ImageLoadError(path, _too_large(w, h, limit))
        yield im


@contextlib.contextmanager
def decoded_image(path: str | os.PathLike, draft_size: tuple[int, int] | None = None) -> Iterator[Image.Image]:
    """`open_image`, then decode every pixel, so that truncation and corruption surface here.

    Args:
        path: the image file.
        draft_size: (width, height); lets JPEG decode at a reduced scale no smaller than this.

    Yields:
        The decoded PIL image in its stored mode (no conversion, no EXIF rotation); closed after.

    Raises:
        ImageLoadError: as `open_image`, or the decoder failed (names the file and why).
    """
    with open_image(path) as im:
        try:
            if draft_size is not None and im.format == "JPEG":
                w, h = draft_size
                if im.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8):
                    w, h = h, w  # the stored image is rotated by 90 degrees
                im.draft(None, (w, h))
            im.load()
        except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, struct.error, ... on bad data
            raise ImageLoadError(
                path,
                f"decoding failed ({type(e).__name__}: {e}); the file is probably truncated "
                "or corrupt: re-download it or delete it",
            ) from e
        yield im


def load_image(
    path: str | os.PathLike,
    *,
    background: tuple[int, int, int] = (255, 255, 255),
    draft_size: tuple[int, int] | None = None,
) -> Image.Image:
    """Decode any common image file to an RGB PIL image, EXIF orientation applied.

    Transparent images (RGBA, LA, palette with transparency) are composited over
    `background` (white by default). 16-bit and 32-bit greyscale are rescaled to 8 bits,
    never clipped: 16-bit by 1/257, float in [0, 1] and ints in 0..255 as they are, and any
    other range (int32 or float 0..1000, say) by its own maximum, with a warning. The file is fully decoded
    here, so truncation is caught here and not later; oversized headers are refused before
    decoding (see `open_image`).

    Args:
        path: the image file.
        background: RGB 0..255 colour under transparent pixels.
        draft_size: (width, height); lets JPEG decode at a reduced scale no smaller than this.

    Raises:
        ImageLoadError: missing, empty, truncated, corrupt, oversized or non-image file (names it and why).
    """
    with decoded_image(path, draft_size) as im:
        with contextlib.suppress(Exception):  # malformed EXIF: keep the pixels as stored
            im = ImageOps.exif_transpose(im)
        return _to_rgb(im, background, Path(path))


def _to_rgb(im: Image.Image, background: tuple[int, int, int], path: Path) -> Image.Image:
    """Any PIL mode -> a new RGB image (see `load_image` for the rules)."""
    if im.mode.startswith("I") or im.mode == "F":  # 16/32-bit grey: PIL's convert would clip at 255
        a = np.nan_to_num(np.asarray(im, dtype=np.float64))
        lo, hi = float(a.min()), float(a.max())
        if im.mode.startswith("I;16") or (im.mode == "I" and lo >= 0 and _FULL_16BIT <= hi <= 65535):
            a = a / 65535  # a 16-bit image (PIL may open 16-bit PNGs as "I")
        elif im.mode == "F" and lo >= 0 and hi <= 1:
            pass
        elif lo >= 0 and hi <= 255:
            a = a / 255
        else:  # e.g. int32 or float values 0..1000: by 1/65535 they would be near black
            lo = min(lo, 0.0)
            a = (a - lo) / max(hi - lo, 1e-12)
            warnings.warn(
                f"{path}: {im.mode} image with values {lo:g}..{hi:g}, which fit no standard range "
                "(0..1, 0..255, 0..65535); scaled by its own range to 0..1. Convert it to 8 or 16 bits "
                "to control the scaling",
                stacklevel=4,
            )
        return Image.fromarray(np.clip(np.rint(a * 255), 0, 255).astype(np.uint8), "L").convert("RGB")
    if im.mode in ("RGBA", "RGBa", "LA", "La", "PA") or (im.mode == "P" and "transparency" in im.info):
        base = Image.new("RGBA", im.size, (*background, 255))
        return Image.alpha_composite(base, im.convert("RGBA")).convert("RGB")
    return im.convert("RGB")  # 1, L, P, CMYK, YCbCr, RGB (always a new image)


def probe_image(path: str | os.PathLike) -> str | None:
    """Why `path` cannot be used as an image (a cheap header + trailer test), or None if it looks fine.

    Catches what real downloads produce: empty, missing, non-image and oversized files from
    the header, truncated JPEGs and PNGs from their missing end marker (a file without one
    is decoded to tell truncation from trailing data, e.g. motion photos). Corruption in
    the middle of a file shows only when it is decoded.
    """
    path = Path(path)
    try:
        with open_image(path) as im:
            fmt = im.format
        if fmt in ("JPEG", "PNG"):
            with open(path, "rb") as f:
                f.seek(max(0, path.stat().st_size - 1024))
                tail = f.read()
            if (fmt == "JPEG" and b"\xff\xd9" not in tail) or (fmt == "PNG" and b"IEND" not in tail):
                load_image(path)
    except ImageLoadError as e:
        return e.reason
    except OSError as e:
        return f"cannot read the file ({type(e).__name__}: {e})"
    return None


def readable_images(candidates: Sequence[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """`candidates` split by `probe_image` into (readable files, [(skipped file, why)]), order kept."""
    files, skipped = [], []
    for p in candidates:
        reason = probe_image(p)
        if reason is None:
            files.append(p)
        else:
            skipped.append((p, reason))
    return files, skipped


def warn_skipped(what: str, skipped: Sequence[tuple[Path, str]], stacklevel: int = 2) -> None:
    """One warning for the files a dataset leaves out: the first 10 and why (its `.skipped` holds all).

    `stacklevel` counts from the caller of `warn_skipped`, as `warnings.warn`'s does.
    """
    lines = [f"  {p}: {why}" for p, why in skipped[:10]]
    more = f"\n  ... and {len(skipped) - 10} more (see .skipped)" if len(skipped) > 10 else ""
    text = f"{what}: skipping {len(skipped)} unreadable file(s):\n" + "\n".join(lines) + more
    warnings.warn(text, stacklevel=stacklevel + 1)


def read_with_fallback(
    files: Sequence[Path],
    index: int,
    read: Callable[[Path], T],
    bad: set[int],
    skipped: list[tuple[Path, str]],
    owner: str,
) -> T:
    """`read(files[index])`, or of the next file that reads (wrapping around): one bad file never stops an epoch.

    A file whose `read` raises ImageLoadError is added to `bad` (not tried again) and to
    `skipped` as (path, reason), with one warning naming it; `bad` and `skipped` belong to
    the calling dataset (per process, as DataLoader workers hold copies).

    Raises:
        RuntimeError: none of the files reads.
    """
    n = len(files)
    for i in ((index + k) % n for k in range(n)):
        if i in bad:
            continue
        try:
            return read(files[i])
        except ImageLoadError as e:
            bad.add(i)
            skipped.append((e.path, e.reason))
            warnings.warn(
                f"{owner}: skipping unreadable {e.path}: {e.reason} (the next readable file is used instead)",
                stacklevel=3,  # the caller of dataset[index]
            )
    raise RuntimeError(f"{owner}: none of the {n} files could be decoded; see the warnings above")


def walk_folders(root: Path) -> Iterator[tuple[str, list[str]]]:
    """(folder, file names) under `root`, symlinked folders followed, each real folder visited once.

    Hidden files and folders and macOS `__MACOSX` folders are left out. Following links lets a
    data folder gather photos kept elsewhere; the visited set (device, inode) stops link loops.
    """
    seen: set[tuple[int, int]] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        st = os.stat(dirpath)
        if (st.st_dev, st.st_ino) in seen:
            dirnames[:] = []  # a loop, or a second link to a folder already read
            continue
        seen.add((st.st_dev, st.st_ino))
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d != "__MACOSX"]
        yield dirpath, [f for f in filenames if not f.startswith(".")]


def find_images(root: str | os.PathLike) -> list[Path]:
    """Image files under `root`, recursively (symlinked folders followed, once), in sorted order.

    Extensions (IMAGE_EXTENSIONS) match case-insensitively; hidden files and folders and
    macOS `__MACOSX` folders are ignored. Files are not opened here.
    """
    root = Path(root).expanduser()
    found = []
    for dirpath, filenames in walk_folders(root):
        found += [Path(dirpath, f) for f in filenames if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS]
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def to_tensor(im: Image.Image) -> torch.Tensor:
    """RGB PIL image -> float32 (3, H, W) tensor in [0, 1]."""
    a = np.asarray(im.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)  # (3, H, W)
    # numpy, not torch ops: these small ops run in every worker, where torch's thread pool only adds overhead
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32) / np.float32(255))


def item_rng(seed: int | None, *key: int) -> np.random.Generator:
    """Per-item Generator: from (seed, *key), or from torch's worker-aware global RNG if seed is None.

    Keyed on the item (e.g. (seed, index, epoch)), an item is the same whichever DataLoader
    worker serves it; with seed=None, DataLoader seeds torch differently in every worker.
    """
    if seed is None:
        return np.random.default_rng(int(torch.randint(0, 2**62, (1,)).item()))
    return np.random.default_rng([int(seed), *(int(k) for k in key)])


def check_index(index: int, length: int) -> int:
    """`index` in [-length, length) as a non-negative index, else IndexError (ends iteration)."""
    if not -length <= index < length:
        raise IndexError(f"index {index} out of range for a dataset of length {length}")
    return index % length


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Deterministic random partition of range(n) into sorted (train, val) index lists.

    val gets round(n * val_fraction) items, and at least one when val_fraction > 0 and n >= 2
    (train keeps at least one too).
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    n_val = round(n * val_fraction)
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    val = set(perm[:n_val].tolist())
    return [i for i in range(n) if i not in val], sorted(val)
