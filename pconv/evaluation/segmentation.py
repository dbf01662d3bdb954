"""Using a trained segmentation U-Net (Ronneberger et al. 2015): predict, score per image, save masks.

    probs = predict_probs(model, image)                       # (N, 1, H, W) in [0, 1]
    scores = per_image_scores(model, val_set)                 # {"dice": (N,), "iou": (N,)}
    paths = save_mask_pngs(model, "my_photos/", "masks/", size=(160, 240))
    border = border_dice(probs, target, width=16)             # Dice within 16 px of the image border

The model maps (N, 3, H, W) images in [0, 1] to (N, 1, H, W) logits, as `pconv.nn.UNet`
does. Every function runs it in eval mode without gradients on the model's own device and
puts it back in the mode it found it in. Masks here mark the object (1 = car), the
segmentation polarity of `pconv.data.seg_datasets`, not the valid pixels of inpainting.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, SequentialSampler

from pconv.data import ImageLoadError, find_images, load_image, make_loader, to_tensor
from pconv.evaluation.metrics import dice_per_image, dice_score, iou_per_image
from pconv.utils import eval_mode

__all__ = ["predict_probs", "predict_masks", "per_image_scores", "save_mask_pngs", "border_dice"]


@contextlib.contextmanager
def _evaluating(model: nn.Module) -> Iterator[torch.device]:
    """Eval mode and no gradients inside; the model's device is yielded; its mode restored after."""
    param = next(model.parameters(), None)
    with eval_mode(model), torch.no_grad():
        yield param.device if param is not None else torch.device("cpu")


def _check_batch(images: Tensor) -> Tensor:
    if not isinstance(images, Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be an (N, C, H, W) tensor in [0, 1], got {shape}; use image[None] for one")
    return images


def predict_probs(model: nn.Module, images: Tensor, batch_size: int = 8) -> Tensor:
    """Foreground probabilities `sigmoid(model(images))`, in chunks of `batch_size`.

    Args:
        model: a segmentation network returning (N, 1, H, W) logits.
        images: (N, 3, H, W) float in [0, 1], on any device.

    Returns:
        (N, 1, H, W) float32 probabilities in [0, 1], on the CPU.
    """
    images = _check_batch(images)
    with _evaluating(model) as device:
        chunks = [
            torch.sigmoid(model(images[i : i + batch_size].to(device).float())).float().cpu()
            for i in range(0, len(images), batch_size)
        ]
    return torch.cat(chunks) if chunks else images.new_zeros((0, 1, *images.shape[-2:]), dtype=torch.float32)


def predict_masks(model: nn.Module, images: Tensor, threshold: float = 0.5, batch_size: int = 8) -> Tensor:
    """Binary masks `predict_probs(...) > threshold`.

    Args:
        model, images, batch_size: as for `predict_probs`.
        threshold: probability above which a pixel is foreground.

    Returns:
        (N, 1, H, W) float32 in {0, 1} (1 = object), on the CPU.
    """
    return (predict_probs(model, images, batch_size) > threshold).float()


def _loader(data: Dataset | DataLoader, batch_size: int) -> DataLoader:
    if isinstance(data, DataLoader):
        if not isinstance(data.sampler, SequentialSampler):
            raise ValueError(
                "per-image scores need the data in order: pass the Dataset, or a DataLoader "
                f"with shuffle=False (this one samples with {type(data.sampler).__name__})"
            )
        return data
    # In order (no sampler: sequential), every image kept, workers started the safe way (never fork).
    return make_loader(data, batch_size, None, pin_memory=False, seed=0, drop_last=False)


def per_image_scores(
    model: nn.Module, data: Dataset | DataLoader, threshold: float = 0.5, batch_size: int = 8
) -> dict[str, Tensor]:
    """Dice and IoU of every image of `data`, in its order (index i = data[i]).

    Args:
        model: a segmentation network returning (N, 1, H, W) logits.
        data: a Dataset of {"image": (3, H, W), "mask": (1, H, W)} items (e.g. `CarvanaDataset(
            root, split="val")`), or an unshuffled DataLoader of such batches.
        threshold: foreground is `sigmoid(logits) > threshold`; the target's is `mask > 0.5`.
        batch_size: used when `data` is a Dataset (read with `default_num_workers()` workers,
            started by forkserver or spawn).

    Returns:
        {"dice": (N,), "iou": (N,)} float32 tensors in [0, 1]; two empty masks score 1.
    """
    dice, iou = [], []
    with _evaluating(model) as device:
        for batch in _loader(data, batch_size):
            prob = torch.sigmoid(model(batch["image"].to(device).float())).float()  # (B, 1, H, W)
            target = batch["mask"].to(device)
            dice.append(dice_per_image(prob, target, threshold).cpu())
            iou.append(iou_per_image(prob, target, threshold).cpu())
    if not dice:
        raise ValueError("data is empty: nothing to score")
    return {"dice": torch.cat(dice), "iou": torch.cat(iou)}


def _inputs(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[tuple[Path, Path]]:
    """[(file, output name relative to out_dir)]: a folder is mirrored; a list keeps names, made unique."""
    if isinstance(paths, (str, os.PathLike)) and Path(paths).expanduser().is_dir():
        root = Path(paths).expanduser()
        return [(p, p.relative_to(root).with_name(f"{p.stem}_mask.png")) for p in find_images(root)]
    files = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    out, seen = [], set()
    for p in files:
        name, k = f"{p.stem}_mask.png", 1
        while name in seen:  # photo.jpg and photo.png, or the same name from two folders
            name, k = f"{p.stem}_{k}_mask.png", k + 1
        seen.add(name)
        out.append((p.expanduser(), Path(name)))
    return out


def save_mask_pngs(
    model: nn.Module,
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    size: int | tuple[int, int] = (160, 240),
    threshold: float = 0.5,
) -> list[Path]:
    """Predict a mask for each of your own images and write it as a PNG at the image's own size.

    Each image is resized (bilinear) to `size`, the size the model was trained at, as in
    training; the predicted mask is resized back to the original (nearest neighbour, so it
    stays binary) and written as 8-bit greyscale, 255 = object, 0 = background.

    Args:
        model: a segmentation network returning (N, 1, H, W) logits.
        paths: a folder (searched recursively; its layout is mirrored under `out_dir`), one
            image file, or a list of image files.
        out_dir: where `<name>_mask.png` files go (created if missing).
        size: (height, width) the model sees (an int: a square).
        threshold: probability above which a pixel is foreground.

    Returns:
        The written PNG paths, in input order. Unreadable images are skipped with one warning
        that names them.

    Raises:
        FileNotFoundError: `paths` names a file or folder that does not exist, or holds no images.
    """
    if not isinstance(paths, (str, os.PathLike)):
        paths = list(paths)  # a generator is read once
    missing = [
        p for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths) if not Path(p).expanduser().exists()
    ]
    if missing:
        raise FileNotFoundError(
            f"save_mask_pngs: not found: {', '.join(map(str, missing[:5]))}; pass a folder "
            "of images, an image file or a list of image files"
        )
    inputs = _inputs(paths)
    if not inputs:
        raise FileNotFoundError(f"save_mask_pngs: no images in {paths} (extensions: .jpg, .png, ...)")
    h, w = (size, size) if isinstance(size, int) else size
    out_dir = Path(out_dir).expanduser()
    written, skipped = [], []
    for src, rel in inputs:
        try:
            image = load_image(src)
        except ImageLoadError as e:
            skipped.append(f"  {src}: {e.reason}")
            continue
        x = to_tensor(image.resize((w, h), Image.Resampling.BILINEAR))[None]  # (1, 3, h, w)
        mask = predict_masks(model, x, threshold)[0, 0].numpy()  # (h, w) in {0, 1}
        png = Image.fromarray((mask * 255).astype(np.uint8), "L").resize(image.size, Image.Resampling.NEAREST)
        dest = out_dir / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        png.save(dest)
        written.append(dest)
    if skipped:
        warnings.warn(
            f"save_mask_pngs: skipped {len(skipped)} unreadable image(s):\n" + "\n".join(skipped[:10]), stacklevel=2
        )
    return written


def border_dice(pred: Tensor, target: Tensor, width: int = 16, threshold: float = 0.5) -> Tensor:
    """Mean per-image Dice over the pixels within `width` px of the image border only.

    Where a network's padding matters: partial-convolution based padding (Liu et al. 2018,
    arXiv:1811.11718) changes the outputs near the border and leaves the interior alone.
    Each image is scored as `dice_score` does (two empty masks score 1), on the frame of
    rows and columns closer than `width` to an edge; a `width` of half the smaller side or
    more takes the whole image.

    Args:
        pred: (N, 1, H, W) or (N, H, W) probabilities or a binary mask; foreground is `pred > threshold`.
        target: the same shape; foreground is `target > 0.5`.
        width: the frame's width in pixels, an int >= 1.
        threshold: the probability above which a pixel counts as foreground.

    Returns:
        A 0-dim float32 tensor in [0, 1].
    """
    if isinstance(width, bool) or not isinstance(width, int) or width < 1:
        raise ValueError(f"border_dice: width must be an int >= 1 (pixels from the border), got {width!r}")
    if pred.dim() not in (3, 4) or pred.shape != target.shape:
        raise ValueError(
            f"border_dice: pred and target must be (N, 1, H, W) or (N, H, W) of the same shape, got "
            f"{tuple(pred.shape)} and {tuple(target.shape)}"
        )
    h, w = pred.shape[-2:]
    rows, cols = torch.arange(h, device=pred.device), torch.arange(w, device=pred.device)
    near_row = torch.minimum(rows, h - 1 - rows) < width  # (H,)
    near_col = torch.minimum(cols, w - 1 - cols) < width  # (W,)
    frame = near_row[:, None] | near_col[None, :]  # (H, W), True within `width` of an edge
    n = pred.shape[0]
    return dice_score(pred[..., frame].reshape(n, 1, -1, 1), target[..., frame].reshape(n, 1, -1, 1), threshold)
