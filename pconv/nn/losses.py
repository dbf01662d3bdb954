"""Losses: the partial-convolution inpainting loss and soft Dice for segmentation.

`InpaintingLoss` is the objective of Liu et al. 2018, "Image Inpainting for Irregular
Holes Using Partial Convolutions" (arXiv:1804.07723), Section 3.4, eq. 1-7: L1 on the
valid and hole pixels, perceptual and style terms on VGG16 pool1..pool3 features of
the output and the composite, and total variation on the composite around the holes.
This version makes every weight an argument, lets users add terms, and degrades
gracefully when the ImageNet VGG16 weights cannot be had offline (`vgg="auto"`; the
feature extractor and its weights live in `pconv.nn.vgg`).

`dice_loss` / `bce_dice_loss` are the usual soft-Dice objectives for the U-Net
segmentation notebooks (Milletari et al. 2016, arXiv:1606.04797).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pconv.nn.compositing import composite
from pconv.nn.vgg import VGG16Features, auto_vgg
from pconv.utils import check_binary_mask

__all__ = ["InpaintingLoss", "gram_matrix", "dice_loss", "bce_dice_loss"]

TermFn = Callable[[Tensor, Tensor, Tensor], Tensor]


def gram_matrix(feat: Tensor) -> Tensor:
    """Gram matrix K_p (phi^T phi) / (C H W) of paper eq. 4, computed in fp32 even under autocast.

    Args:
        feat: (N, C, H, W) features.

    Returns:
        (N, C, C) float32.
    """
    n, c, h, w = feat.shape
    with torch.autocast(device_type=feat.device.type, enabled=False):
        f = feat.float().reshape(n, c, h * w)
        return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)  # (N, C, C)


def _check_inputs(output: Tensor, target: Tensor, mask: Tensor) -> None:
    """Raise ValueError unless output and target are (N, C, H, W) alike and mask a binary match."""
    if output.shape != target.shape or output.ndim != 4:
        shapes = f"{tuple(output.shape)} and {tuple(target.shape)}"
        raise ValueError(f"output and target must have the same (N, C, H, W) shape, got {shapes}")
    if mask.ndim != 4 or mask.shape[1] not in (1, output.shape[1]) or mask.shape[-2:] != output.shape[-2:]:
        expected = f"(N, 1, H, W) or (N, C, H, W) matching output {tuple(output.shape)}"
        raise ValueError(f"mask must be {expected}, got {tuple(mask.shape)}")
    check_binary_mask(mask)


def _tv_on_dilated_holes(comp: Tensor, mask: Tensor) -> Tensor:
    """Total variation of paper eq. 6 on the composite, over region P.

    P is the hole region (mask == 0) dilated by one pixel with a 3x3 square. A pair of
    horizontally (or vertically) adjacent pixels counts when *both* lie in P, as in eq. 6;
    the absolute differences of both directions are summed and divided by the number of
    elements of the composite, N*C*H*W (the paper's N_{I_comp}).
    """
    p = F.max_pool2d(1.0 - mask, kernel_size=3, stride=1, padding=1)  # (N, 1|C, H, W), 1 inside P
    p = p.expand_as(comp)
    dx = (comp[..., :, 1:] - comp[..., :, :-1]).abs() * p[..., :, 1:] * p[..., :, :-1]
    dy = (comp[..., 1:, :] - comp[..., :-1, :]).abs() * p[..., 1:, :] * p[..., :-1, :]
    return (dx.sum() + dy.sum()) / comp.numel()


class InpaintingLoss(nn.Module):
    """Liu et al. 2018 eq. 7: valid + 6 hole + 0.05 perceptual + 120 (style_out + style_comp) + 0.1 tv.

    Args:
        valid, hole, perceptual, style, tv: weights of each term; a zero weight skips the term.
        vgg: "auto" (ImageNet VGG16 when it loads, else one warning and no perceptual/style
            terms), "imagenet" (`VGGWeightsError` when the weights cannot be loaded), a path to a
            vgg16 weights file, or None / False (off: never touches VGG).
        extra: user terms `{name: (fn, weight)}` with `fn(output, target, mask) -> scalar`;
            see `add_term`.

    Calling the loss returns a dict of scalar float32 tensors: the unweighted terms
    ("valid", "hole", "perceptual", "style" = style_out + style_comp, "tv", then extras)
    and "total", their weighted sum. Terms that are skipped (zero weight, or no VGG) are
    absent from the dict and from the total; `uses_vgg` tells whether VGG terms are on.
    """

    _BUILTIN = ("valid", "hole", "perceptual", "style", "tv", "total")

    def __init__(
        self,
        valid: float = 1.0,
        hole: float = 6.0,
        perceptual: float = 0.05,
        style: float = 120.0,
        tv: float = 0.1,
        vgg: str | os.PathLike | Literal[False] | None = "auto",
        extra: Mapping[str, tuple[TermFn, float]] | None = None,
    ) -> None:
        super().__init__()
        self.weights = {"valid": valid, "hole": hole, "perceptual": perceptual, "style": style, "tv": tv}
        self.vgg: VGG16Features | None = None
        if vgg is False:  # off, as None; notebooks and training_settings spell it both ways
            vgg = None
        if vgg is not None and not isinstance(vgg, (str, os.PathLike)):
            raise TypeError(
                f"InpaintingLoss(vgg={vgg!r}): expected 'auto', 'imagenet', a path to a vgg16 weights file, "
                "or None / False to leave out the perceptual and style terms"
            )
        if (perceptual or style) and vgg is not None:
            self.vgg = auto_vgg() if vgg == "auto" else VGG16Features(vgg)
        self.extra: dict[str, tuple[TermFn, float]] = {}
        for name, (fn, weight) in (extra or {}).items():
            self.add_term(name, fn, weight)

    @property
    def uses_vgg(self) -> bool:
        """True when the perceptual and style terms are computed."""
        return self.vgg is not None

    def add_term(self, name: str, fn: TermFn, weight: float = 1.0) -> None:
        """Add `weight * fn(output, target, mask)` to the total, reported under `name`.

        `fn` gets the same tensors as `forward` and returns a scalar tensor; an `nn.Module`
        fn is registered as a submodule so it moves with `.to(device)`.
        """
        if name in self._BUILTIN or name in self.extra:
            raise ValueError(f"extra term name {name!r} is taken; avoid {self._BUILTIN + tuple(self.extra)}")
        if not callable(fn):
            raise TypeError(f"extra term {name!r}: fn must be callable as fn(output, target, mask), not {fn!r}")
        if isinstance(fn, nn.Module):
            self.add_module(f"extra_{name}", fn)
        self.extra[name] = (fn, float(weight))

    def forward(self, output: Tensor, target: Tensor, mask: Tensor) -> dict[str, Tensor]:
        """Evaluate every term with a non-zero weight.

        Args:
            output: (N, 3, H, W) network prediction, nominally in [0, 1].
            target: (N, 3, H, W) ground truth in [0, 1].
            mask: (N, 1, H, W) or (N, 3, H, W), 1 = valid, 0 = hole (binary).

        Returns:
            Dict of scalar float32 tensors, the unweighted terms plus "total" (weighted sum).
        """
        _check_inputs(output, target, mask)
        w = self.weights
        out, gt, m = output.float(), target.float(), mask.float()  # L1 terms in fp32 under autocast
        comp = composite(gt, m, out)
        terms: dict[str, Tensor] = {}
        if w["valid"]:
            terms["valid"] = (m * (out - gt)).abs().mean()  # eq. 1, 1/N_gt = 1/(N C H W)
        if w["hole"]:
            terms["hole"] = ((1 - m) * (out - gt)).abs().mean()
        if self.vgg is not None and (w["perceptual"] or w["style"]):
            n = out.shape[0]
            feats = self.vgg(torch.cat([out, comp, gt]))  # one pass for all three, (3N, C_p, H_p, W_p)
            f_out, f_comp, f_gt = zip(*(f.float().split(n) for f in feats))
            if w["perceptual"]:  # eq. 3
                terms["perceptual"] = sum(F.l1_loss(o, g) + F.l1_loss(c, g) for o, c, g in zip(f_out, f_comp, f_gt))
            if w["style"]:  # eq. 4 and 5, summed
                terms["style"] = sum(
                    F.l1_loss(gram_matrix(o), gram_matrix(g)) + F.l1_loss(gram_matrix(c), gram_matrix(g))
                    for o, c, g in zip(f_out, f_comp, f_gt)
                )
        if w["tv"]:
            terms["tv"] = _tv_on_dilated_holes(comp, m)
        for name, (fn, weight) in self.extra.items():
            if weight:
                terms[name] = fn(output, target, mask)
        weights = {**w, **{k: v for k, (_, v) in self.extra.items()}}
        terms["total"] = sum(weights[k] * v for k, v in terms.items()) if terms else out.new_zeros(())
        return terms


def _seg_probs_onehot(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Probabilities and a float target of the same (N, K, H, W) shape, both fp32."""
    if logits.ndim != 4:
        raise ValueError(f"logits must be (N, K, H, W), got {tuple(logits.shape)}")
    n, k, h, w = logits.shape
    logits = logits.float()
    if k == 1:  # binary: sigmoid, target (N, 1, H, W) or (N, H, W) in {0, 1}
        if target.shape not in ((n, h, w), (n, 1, h, w)):
            expected = f"(N, 1, H, W) = {(n, 1, h, w)} or (N, H, W)"
            raise ValueError(f"binary target must be {expected}, got {tuple(target.shape)}")
        return torch.sigmoid(logits), target.reshape(n, 1, h, w).float()
    if target.shape == (n, h, w) and not target.is_floating_point():
        if bool((target < 0).any() | (target >= k).any()):
            raise ValueError(f"class-index target must hold values in [0, {k}) for {k} logit channels")
        t = F.one_hot(target.long(), k).permute(0, 3, 1, 2).float()  # (N, K, H, W)
    elif target.shape == (n, k, h, w):
        t = target.float()  # one-hot (or soft) targets
    else:
        raise ValueError(
            f"multi-class target must be integer class indices (N, H, W) = {(n, h, w)} or one-hot "
            f"(N, K, H, W) = {(n, k, h, w)}, got {tuple(target.shape)} {target.dtype}"
        )
    return torch.softmax(logits, dim=1), t


def _soft_dice(p: Tensor, t: Tensor, smooth: float) -> Tensor:
    inter = (p * t).sum(dim=(2, 3))  # (N, K)
    denom = p.sum(dim=(2, 3)) + t.sum(dim=(2, 3))
    dice = (2 * inter + smooth) / (denom + smooth).clamp_min(1e-7)  # clamp: smooth=0 and both empty
    return 1 - dice.mean()


def dice_loss(logits: Tensor, target: Tensor, smooth: float = 1.0) -> Tensor:
    """Soft Dice loss, 1 - mean over images and classes of (2 sum(p t) + s) / (sum p + sum t + s).

    Args:
        logits: (N, 1, H, W) binary (sigmoid) or (N, K, H, W) multi-class (softmax) logits.
        target: binary: (N, 1, H, W) or (N, H, W) in {0, 1}; multi-class: (N, H, W) integer
            class indices or (N, K, H, W) one-hot.
        smooth: additive smoothing `s`; with s > 0 an empty target and empty prediction give
            Dice 1 (loss 0), never NaN.

    Returns:
        Scalar float32 tensor in [0, 1].
    """
    return _soft_dice(*_seg_probs_onehot(logits, target), smooth)


def bce_dice_loss(
    logits: Tensor, target: Tensor, bce_weight: float = 1.0, dice_weight: float = 1.0, smooth: float = 1.0
) -> Tensor:
    """`bce_weight * BCE-with-logits (CE when K > 1) + dice_weight * dice_loss`, shapes as `dice_loss`.

    Returns:
        Scalar float32 tensor.
    """
    p, t = _seg_probs_onehot(logits, target)  # validates shapes
    if logits.shape[1] == 1:
        ce = F.binary_cross_entropy_with_logits(logits.float(), t)
    else:
        ce = F.cross_entropy(logits.float(), t)  # class-probability targets: equals index CE for one-hot
    return bce_weight * ce + dice_weight * _soft_dice(p, t, smooth)
