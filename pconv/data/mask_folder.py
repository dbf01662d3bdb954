"""Hole masks read from files: NVIDIA's irregular mask set, or any folder of mask images.

Liu et al. 2018 (arXiv:1804.07723, Sec. 4.1) train on 55,116 irregular masks and augment
them by random dilation, rotation and cropping; `MaskFolder` reads such a folder and does
that augmentation (the geometry lives in `pconv.data.mask_drawing`). Mask files come in two
polarities (NVIDIA's: white strokes = holes; `make_test_masks`': white = valid), so the
polarity is decided once for the whole folder, never per file: one set of masks cannot
come out half one way and half the other. Public as `pconv.data.MaskFolder`.

Masks are float32, 1 = valid, 0 = hole.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from pconv.data import mask_drawing as maskdraw
from pconv.data.dataset_items import check_index, item_rng
from pconv.data.image_files import IMAGE_EXTENSIONS, find_images, read_with_fallback, readable_images, warn_skipped
from pconv.data.image_io import ImageLoadError, decoded_image
from pconv.utils import check_hw, user_path

__all__ = ["MaskFolder", "POLARITY_VOTES", "PolarityVote", "read_white", "vote_polarity"]

POLARITY_VOTES = 256  # files decoded to decide invert="auto": ~0.6 s at 512x512, spread over big sets
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def read_white(path: str | os.PathLike) -> np.ndarray:
    """Read a mask file as bool (H, W): True where it is white, at 0.6 of its maximum (the authors' threshold).

    A file with an alpha channel that varies (strokes painted on a transparent layer) is
    read by its alpha instead: opaque = white, whatever the colours under it.

    Raises:
        ImageLoadError: missing, empty, oversized or undecodable file (names it and why).
    """
    with decoded_image(path) as im:
        a = None
        if im.mode in _ALPHA_MODES or "transparency" in im.info:
            alpha = np.asarray(im.convert("RGBA").getchannel("A"))
            a = alpha if alpha.min() != alpha.max() else None  # a constant alpha carries no mask
        if a is None:
            a = np.asarray(im.convert("L"))
    return a > 0.6 * a.max() if a.max() > 0 else np.zeros(a.shape, bool)


class PolarityVote(NamedTuple):
    """The outcome of `vote_polarity`."""

    white_is_hole: bool
    agree: list[Path]  # the files that voted for the outcome
    dissent: list[Path]  # the files that voted against it
    failed: list[tuple[Path, str]]  # (file, reason) for files that could not be decoded


def vote_polarity(files: Sequence[Path], votes: int = POLARITY_VOTES) -> PolarityVote:
    """Decide a folder's polarity by majority: in most mask files the holes are the minority colour.

    Every file is read when there are at most `votes`, else `votes` files spread evenly over
    the (sorted) list. A file with more white than black votes white = valid, the others
    white = hole; a tie goes to white = hole (NVIDIA's convention).

    Returns:
        A `PolarityVote`: the decision, the files for and against it, and the unreadable ones.
    """
    n = len(files)
    picks = sorted(set(np.linspace(0, n - 1, min(n, votes)).round().astype(int).tolist())) if n else []
    white_heavy, white_light, failed = [], [], []
    for i in picks:
        try:
            white = read_white(files[i])
        except ImageLoadError as e:
            failed.append((files[i], e.reason))
            continue
        (white_heavy if white.mean() > 0.5 else white_light).append(files[i])
    if len(white_light) >= len(white_heavy):
        return PolarityVote(True, white_light, white_heavy, failed)
    return PolarityVote(False, white_heavy, white_light, failed)


def _warn_dissent(root: Path, vote: PolarityVote) -> None:
    side, fewer = ("hole", "less") if vote.white_is_hole else ("valid", "more")
    dissent, voted = vote.dissent, len(vote.agree) + len(vote.dissent)
    names = ", ".join(str(p) for p in dissent[:5]) + (f" and {len(dissent) - 5} more" if len(dissent) > 5 else "")
    warnings.warn(
        f"MaskFolder({root}): invert='auto' reads white as {side} in every file: {len(vote.agree)} of the "
        f"{voted} files checked have {fewer} white than black, {len(dissent)} the opposite ({names}); in "
        "those the holes cover more than half of the mask, or the other convention is used. Pass "
        "invert=True (white = hole, NVIDIA's masks) or invert=False (white = valid) to state it.",
        stacklevel=3,
    )


class MaskFolder(Dataset):
    """Mask images from a folder (e.g. NVIDIA's irregular mask set), (1, H, W) float32 tensors, 1 = valid.

    Files are found recursively (.png, .jpg, .bmp, .tif, .webp, ...; hidden files ignored),
    sorted, binarised at 0.6 of each file's maximum and resized with nearest-neighbour.
    A file with a varying alpha channel is read by its alpha (opaque = white). Files that
    are unreadable, truncated or claim more than PIL.Image.MAX_IMAGE_PIXELS pixels are
    skipped up front with one warning (`.skipped` lists them with the reason).

    Polarity: `invert=True` means white = hole in the files (NVIDIA's convention), `False`
    white = valid (`make_test_masks`' files). `"auto"` decides once for the whole folder,
    by a majority vote of its files (up to `POLARITY_VOTES` of them) that holes are the
    minority colour, and warns when some files disagree; `.invert` then holds the decision.
    A folder of masks that are all more than half hole (the 0.5-0.6 bin on its own) is
    read the wrong way round: pass `invert` explicitly when the convention is known.

    Augmentation (`augment=True`, Liu et al. 2018 Sec. 4.1), with a generator seeded by
    (seed, epoch, index): random rotation (0-360 degrees) and translation (up to 10%),
    a random crop of 60-100% of the side resized to `size` (nearest-neighbour), random
    flips, then dilation of the holes by a kernel of `dilation` px (uniform, given for
    512x512 masks and scaled to `size`), all on binary images so masks stay binary.

    Args:
        root: folder of mask images.
        size: int or (H, W) of the returned masks.
        augment: apply the random augmentation above.
        invert: True, False or "auto" (see Polarity).
        seed: non-negative int; the same (seed, index) gives the same mask.
        dilation: (min, max) dilation kernel in px at 512x512; (0, 0) turns it off.

    Raises:
        FileNotFoundError: `root` is missing or holds no readable mask image.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        size: int | Sequence[int],
        augment: bool = True,
        invert: bool | str = "auto",
        *,
        seed: int = 0,
        dilation: tuple[int, int] = (9, 49),
    ):
        self.root, self.size = user_path(root), check_hw(size)  # absolute once: files never depend on the cwd
        if invert not in (True, False, "auto"):
            raise ValueError(f"invert must be True (white = hole), False (white = valid) or 'auto', got {invert!r}")
        if len(dilation) != 2 or not 0 <= dilation[0] <= dilation[1]:
            raise ValueError(
                f"dilation must be (min, max) kernel sizes in px with 0 <= min <= max, got {dilation!r}; "
                "use (0, 0) for none"
            )
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"mask folder {self.root} does not exist; download NVIDIA's irregular mask "
                "set (or build one with make_test_masks) and pass its folder as root"
            )
        self.augment, self.seed, self.dilation, self.epoch = augment, int(seed), dilation, 0
        self.files, self.skipped = readable_images(find_images(self.root))  # header and trailer: cheap for 55k
        vote = None
        if invert == "auto":
            vote = vote_polarity(self.files)
            invert, failed = vote.white_is_hole, {p for p, _ in vote.failed}
            self.skipped += vote.failed
            self.files = [p for p in self.files if p not in failed]
        self.invert = bool(invert)
        self._bad: set[int] = set()  # indices of files that failed to decode in this process
        if self.skipped:
            warn_skipped(f"MaskFolder({self.root})", self.skipped)
        if not self.files:
            raise FileNotFoundError(
                f"no readable mask images ({', '.join(IMAGE_EXTENSIONS)}) under {self.root}; "
                "point root at a folder of mask images such as NVIDIA's irregular mask set"
            )
        if vote is not None and vote.dissent:
            _warn_dissent(self.root, vote)

    def set_epoch(self, epoch: int) -> None:
        """Switch to the augmentations of `epoch` (a non-negative int; 0 is the default)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> torch.Tensor:
        index = check_index(index, len(self.files))
        rng = item_rng(self.seed, self.epoch, index)
        white = read_with_fallback(self.files, index, read_white, self._bad, self.skipped, f"MaskFolder({self.root})")
        hole = white if self.invert else ~white
        if self.augment:
            hole = maskdraw.augment(hole, self.size, rng, self.dilation)
        else:
            hole = maskdraw.resize(hole, self.size)
        return torch.from_numpy(~hole).float()[None]  # (1, H, W), 1 = valid
