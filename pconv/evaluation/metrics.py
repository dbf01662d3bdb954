"""Image-quality and segmentation metrics.

- `psnr`, `ssim`, `l1_error`: per-image scores of an inpainted composite against the
  ground truth (Liu et al. 2018, Table 1 reports all three per hole-ratio bin). `ssim`
  follows Wang et al. 2004 with scikit-image's conventions, so numbers match
  `skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False)`.
- `dice_score`, `iou_score` (and their per-image forms): the Kaggle Carvana metric,
  per-image overlap averaged over the batch, two empty masks scoring 1.

The binned evaluation of the paper's Table 1 (`evaluate_inpainting`) is
`pconv.evaluation.inpainting`, built on these.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = [
    "psnr",
    "ssim",
    "l1_error",
    "dice_per_image",
    "iou_per_image",
    "dice_score",
    "iou_score",
]

PSNR_CAP_DB = 100.0  # identical images would give inf; capping keeps means finite
SSIM_SIGMA, SSIM_RADIUS = 1.5, 5  # Wang et al. 2004: 11x11 Gaussian window, sigma 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _as_image_batches(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Check two image batches agree and lift (C, H, W) to (1, C, H, W)."""
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} and {tuple(target.shape)}")
    if pred.dim() == 3:
        pred, target = pred.unsqueeze(0), target.unsqueeze(0)
    if pred.dim() != 4:
        raise ValueError(f"expected images (N, C, H, W) or (C, H, W), got shape {tuple(pred.shape)}")
    return pred, target


def _wide_float(device: torch.device) -> torch.dtype:
    return torch.float32 if device.type == "mps" else torch.float64  # MPS has no float64


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, `10 log10(data_range**2 / MSE)`, in dB.

    Identical images are capped at 100 dB (MSE floored at `data_range**2 * 1e-10`) so
    that means over a test set stay finite.

    Args:
        pred: (N, C, H, W) or (C, H, W), values in [0, data_range].
        target: same shape as `pred`.
        data_range: the span of valid values (1.0 for images in [0, 1]).

    Returns:
        (N,) float32 tensor of PSNR values in dB, at most 100.
    """
    pred, target = _as_image_batches(pred, target)
    wide = _wide_float(pred.device)
    mse = (pred.to(wide) - target.to(wide)).pow(2).flatten(1).mean(1)  # (N,)
    mse = mse.clamp_min(data_range**2 * 10 ** (-PSNR_CAP_DB / 10))
    return (10 * torch.log10(data_range**2 / mse)).float()


def _gaussian_window(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    x = torch.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, device=device, dtype=dtype)
    g = torch.exp(-0.5 * (x / SSIM_SIGMA) ** 2)
    return g / g.sum()  # (11,)


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Structural similarity per image (Wang et al. 2004), averaged over channels.

    Gaussian window 11x11 with sigma 1.5, K1 = 0.01, K2 = 0.03, population covariances.
    As in scikit-image, the SSIM map is averaged after cropping the 5-pixel border
    that the window overhangs; that crop makes the padding mode irrelevant, so the
    filtering here is a plain 'valid' convolution. Computed in float64 (float32 on MPS).

    Args:
        pred: (N, C, H, W) or (C, H, W) with H, W >= 11, values in [0, data_range].
        target: same shape as `pred`.
        data_range: the span of valid values (1.0 for images in [0, 1]).

    Returns:
        (N,) float32 tensor of mean SSIM values in [-1, 1].
    """
    pred, target = _as_image_batches(pred, target)
    n, c, h, w = pred.shape
    size = 2 * SSIM_RADIUS + 1
    if h < size or w < size:
        raise ValueError(f"ssim needs images of at least {size}x{size} pixels, got {h}x{w}")
    wide = _wide_float(pred.device)
    x, y = pred.to(wide), target.to(wide)
    g = _gaussian_window(x.device, wide)
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)  # (N, 5C, H, W)
    k = 5 * c
    stack = F.conv2d(stack, g.view(1, 1, 1, size).expand(k, 1, 1, size), groups=k)  # separable: rows
    stack = F.conv2d(stack, g.view(1, 1, size, 1).expand(k, 1, size, 1), groups=k)  # then columns
    ux, uy, uxx, uyy, uxy = stack.split(c, dim=1)  # each (N, C, H-10, W-10)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.flatten(1).mean(1).float()  # equal-size channels: mean of channel means


def l1_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per image.

    Args:
        pred: (N, C, H, W) or (C, H, W).
        target: same shape as `pred`.

    Returns:
        (N,) float32 tensor; for images in [0, 1] the values lie in [0, 1].
    """
    pred, target = _as_image_batches(pred, target)
    wide = _wide_float(pred.device)
    return (pred.to(wide) - target.to(wide)).abs().flatten(1).mean(1).float()


def _binarise(pred: torch.Tensor, target: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    if pred.dim() not in (3, 4) or target.dim() not in (3, 4):
        raise ValueError(
            f"pred and target must be (N, 1, H, W) or (N, H, W), got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    p, t = pred.flatten(1), target.flatten(1)  # (N, H*W)
    if p.shape != t.shape:
        raise ValueError(f"pred and target hold different sizes: {tuple(pred.shape)} vs {tuple(target.shape)}")
    return p > threshold, t > 0.5


def dice_per_image(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Dice coefficient `2|P & T| / (|P| + |T|)` per image; two empty masks score 1.

    Args:
        pred: (N, 1, H, W) or (N, H, W) probabilities or a binary mask (apply `sigmoid`
            to logits first); foreground is `pred > threshold`.
        target: same size as `pred`; foreground is `target > 0.5`.
        threshold: the probability above which a pixel counts as foreground.

    Returns:
        (N,) float32 tensor in [0, 1].
    """
    p, t = _binarise(pred, target, threshold)
    inter = (p & t).sum(1).float()
    total = p.sum(1).float() + t.sum(1).float()
    return torch.where(total > 0, 2 * inter / total.clamp_min(1), torch.ones_like(total))


def iou_per_image(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Intersection over union `|P & T| / |P | T|` per image; two empty masks score 1.

    Args and Returns: as for `dice_per_image`.
    """
    p, t = _binarise(pred, target, threshold)
    inter = (p & t).sum(1).float()
    union = (p | t).sum(1).float()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def dice_score(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Mean per-image Dice over the batch (the Kaggle Carvana metric).

    Args:
        pred: (N, 1, H, W) or (N, H, W) probabilities or a binary mask; `pred > threshold`.
        target: same size as `pred`; foreground is `target > 0.5`.
        threshold: the probability above which a pixel counts as foreground.

    Returns:
        A 0-dim float32 tensor in [0, 1].
    """
    return dice_per_image(pred, target, threshold).mean()


def iou_score(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Mean per-image IoU (Jaccard index) over the batch; two empty masks score 1.

    Args and Returns: as for `dice_score`.
    """
    return iou_per_image(pred, target, threshold).mean()
