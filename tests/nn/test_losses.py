"""Tests for pconv.nn.losses: terms against hand computations, the loss with VGG features, Dice losses.

Loading the VGG16 weights is tested in test_vgg.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pconv.nn import InpaintingLoss, VGG16Features, bce_dice_loss, dice_loss, gram_matrix, losses, vgg

# --------------------------------------------------------------------------- fixtures


def batch(n=2, c=3, h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    output, target = torch.rand(n, c, h, w, generator=g), torch.rand(n, c, h, w, generator=g)
    mask = (torch.rand(n, 1, h, w, generator=g) > 0.4).float()
    return output, target, mask


class FakeVGG(nn.Module):
    """Known 'features': the image itself and its 2x2 average pool."""

    def forward(self, x):
        return [x, F.avg_pool2d(x, 2)]


# --------------------------------------------------------------------------- pixel terms


def test_valid_and_hole_match_hand_computation():
    output, target, mask = batch(n=1, h=4, w=4)
    terms = InpaintingLoss(perceptual=0, style=0, tv=0, vgg=None)(output, target, mask)
    o, t, m = output.numpy(), target.numpy(), mask.numpy()
    valid = sum(
        abs(o[0, c, i, j] - t[0, c, i, j]) for c in range(3) for i in range(4) for j in range(4) if m[0, 0, i, j] == 1
    )
    hole = sum(
        abs(o[0, c, i, j] - t[0, c, i, j]) for c in range(3) for i in range(4) for j in range(4) if m[0, 0, i, j] == 0
    )
    assert terms["valid"].item() == pytest.approx(valid / 48, rel=1e-5)  # 1 / N_gt, N_gt = C*H*W
    assert terms["hole"].item() == pytest.approx(hole / 48, rel=1e-5)
    assert set(terms) == {"valid", "hole", "total"}
    assert terms["total"].item() == pytest.approx((valid + 6 * hole) / 48, rel=1e-5)


def test_tv_on_a_row_by_hand():
    # One hole pixel at column 2 of a 1x5 row: P = {1, 2, 3}; pairs inside P: (1,2) and (2,3).
    target = torch.tensor([0.0, 0.1, 0.2, 0.3, 0.4]).view(1, 1, 1, 5)
    output = torch.full_like(target, 0.9)
    mask = torch.tensor([1.0, 1, 0, 1, 1]).view(1, 1, 1, 5)
    terms = InpaintingLoss(valid=0, hole=0, perceptual=0, style=0, vgg=None)(output, target, mask)
    # composite = [0, .1, .9, .3, .4]; TV = (|.9 - .1| + |.3 - .9|) / N_comp, N_comp = 5
    assert terms["tv"].item() == pytest.approx((0.8 + 0.6) / 5, rel=1e-5)


def test_tv_matches_loop_reference():
    output, target, mask = batch(n=2, h=7, w=6, seed=3)
    tv = InpaintingLoss(valid=0, hole=0, perceptual=0, style=0, vgg=None)(output, target, mask)["tv"].item()
    m = mask.numpy()[:, 0]
    comp = (mask * target + (1 - mask) * output).numpy()
    n, c, h, w = comp.shape
    in_p = np.zeros_like(m, dtype=bool)  # hole dilated by one pixel (3x3 square)
    for b in range(n):
        for i in range(h):
            for j in range(w):
                in_p[b, i, j] = (m[b, max(i - 1, 0) : i + 2, max(j - 1, 0) : j + 2] == 0).any()
    total = 0.0
    for b in range(n):
        for i in range(h):
            for j in range(w):
                if j + 1 < w and in_p[b, i, j] and in_p[b, i, j + 1]:
                    total += np.abs(comp[b, :, i, j + 1] - comp[b, :, i, j]).sum()
                if i + 1 < h and in_p[b, i, j] and in_p[b, i + 1, j]:
                    total += np.abs(comp[b, :, i + 1, j] - comp[b, :, i, j]).sum()
    assert tv == pytest.approx(total / comp.size, rel=1e-5)


# --------------------------------------------------------------------------- perceptual and style


def test_gram_matrix_by_hand():
    feat = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 2, 1, 2)  # C=2, H=1, W=2
    expected = torch.tensor([[5.0, 11.0], [11.0, 25.0]]) / 4  # (F F^T) / (C H W)
    assert torch.allclose(gram_matrix(feat)[0], expected)
    assert gram_matrix(feat.bfloat16()).dtype == torch.float32


def test_perceptual_style_and_total_with_known_features():
    output, target, mask = batch(n=2, c=3, h=4, w=4, seed=1)
    weights = dict(valid=1.5, hole=6.0, perceptual=0.05, style=120.0, tv=0.1)
    loss_fn = InpaintingLoss(**weights, vgg=None)
    loss_fn.vgg = FakeVGG()
    terms = loss_fn(output, target, mask)

    comp = (mask * target + (1 - mask) * output).numpy()
    o, t = output.numpy(), target.numpy()

    def feats(x):
        return [x, x.reshape(2, 3, 2, 2, 2, 2).mean(axis=(3, 5))]

    def gram(f):
        flat = f.reshape(f.shape[0], f.shape[1], -1)
        return np.stack([a @ a.T for a in flat]) / flat[0].size

    perceptual = sum(np.abs(a - g).mean() + np.abs(c - g).mean() for a, c, g in zip(feats(o), feats(comp), feats(t)))
    style = sum(
        np.abs(gram(a) - gram(g)).mean() + np.abs(gram(c) - gram(g)).mean()
        for a, c, g in zip(feats(o), feats(comp), feats(t))
    )
    assert terms["perceptual"].item() == pytest.approx(perceptual, rel=1e-5)
    assert terms["style"].item() == pytest.approx(style, rel=1e-5)
    expected_total = sum(weights[k] * terms[k] for k in weights)
    assert torch.allclose(terms["total"], expected_total)


def test_zero_weights_and_none_never_touch_vgg(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("VGG must not be touched")

    monkeypatch.setattr(losses, "VGG16Features", boom)
    monkeypatch.setattr(losses, "auto_vgg", boom)
    monkeypatch.setattr(vgg, "VGG16Features", boom)
    monkeypatch.setattr(vgg, "_imagenet_url", boom)
    assert not InpaintingLoss(vgg=None).uses_vgg
    assert not InpaintingLoss(vgg=False).uses_vgg  # False is off too (it was a deep TypeError from pathlib)
    assert not InpaintingLoss(perceptual=0, style=0, vgg="imagenet").uses_vgg
    terms = InpaintingLoss(vgg=None)(*batch())
    assert set(terms) == {"valid", "hole", "tv", "total"}


@pytest.mark.parametrize("bad", [True, 1, ["imagenet"]])
def test_vgg_argument_of_another_type_says_what_it_takes(bad):
    with pytest.raises(TypeError, match=r"InpaintingLoss\(vgg=.*'auto', 'imagenet', a path"):
        InpaintingLoss(vgg=bad)


# --------------------------------------------------------------------------- the loss with a VGG


def test_vgg_frozen_eval_and_buffers():
    loss_fn = InpaintingLoss(vgg=None)
    loss_fn.vgg = VGG16Features(None)
    loss_fn.train()
    assert not loss_fn.vgg.training
    assert all(not p.requires_grad for p in loss_fn.vgg.parameters())
    assert "vgg.mean" not in loss_fn.state_dict() and "vgg.features.0.weight" in loss_fn.state_dict()
    loss_fn.to(torch.float64)
    assert loss_fn.vgg.mean.dtype == torch.float64 and loss_fn.vgg.features[0].weight.dtype == torch.float64
    feats = VGG16Features(None)(torch.rand(1, 3, 16, 16))
    assert [tuple(f.shape) for f in feats] == [(1, 64, 8, 8), (1, 128, 4, 4), (1, 256, 2, 2)]


def test_gradient_reaches_output_not_vgg():
    loss_fn = InpaintingLoss(vgg=None)
    loss_fn.vgg = VGG16Features(None)
    output, target, mask = batch(n=1)
    output.requires_grad_(True)
    loss_fn(output, target, mask)["total"].backward()
    assert output.grad is not None and torch.isfinite(output.grad).all() and output.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss_fn.vgg.parameters())


def test_autocast_bf16_cpu_is_finite():
    loss_fn = InpaintingLoss(vgg=None)
    loss_fn.vgg = VGG16Features(None)
    output, target, mask = batch(n=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        terms = loss_fn(output.bfloat16(), target, mask)
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in terms.values())


# --------------------------------------------------------------------------- extras and errors


def test_extra_terms():
    mse = lambda o, t, m: ((o - t) ** 2).mean()  # noqa: E731
    loss_fn = InpaintingLoss(vgg=None, extra={"mse": (mse, 2.0)})
    loss_fn.add_term("l1_mean", lambda o, t, m: (o - t).abs().mean(), 0.5)
    loss_fn.add_term("off", lambda o, t, m: 1 / 0, 0.0)  # weight 0: never called
    output, target, mask = batch()
    terms = loss_fn(output, target, mask)
    assert "off" not in terms
    assert torch.allclose(terms["mse"], mse(output, target, mask))
    base = terms["valid"] + 6 * terms["hole"] + 0.1 * terms["tv"]
    assert torch.allclose(terms["total"], base + 2 * terms["mse"] + 0.5 * terms["l1_mean"])
    with pytest.raises(ValueError, match="taken"):
        loss_fn.add_term("hole", mse)
    with pytest.raises(TypeError, match="callable"):
        loss_fn.add_term("bad", 3.0)


def test_input_errors():
    loss_fn = InpaintingLoss(vgg=None)
    output, target, mask = batch()
    with pytest.raises(ValueError, match="same"):
        loss_fn(output, target[:, :, :8], mask)
    with pytest.raises(ValueError, match="mask must be"):
        loss_fn(output, target, mask[:, :, :8])
    with pytest.raises(ValueError, match="binary"):
        loss_fn(output, target, mask * 0.5)


# --------------------------------------------------------------------------- segmentation losses


def test_dice_binary_by_hand():
    logits = torch.zeros(1, 1, 2, 2)  # p = 0.5 everywhere
    target = torch.tensor([[1.0, 0.0], [1.0, 1.0]]).view(1, 1, 2, 2)
    # 2 * sum(p t) = 2 * 1.5 = 3; sum p + sum t = 2 + 3 = 5; smooth 1 -> dice = 4 / 6
    assert dice_loss(logits, target).item() == pytest.approx(1 - 4 / 6)
    assert dice_loss(logits, target[:, 0]).item() == pytest.approx(1 - 4 / 6)  # (N, H, W) target
    bce = -math.log(0.5)  # every pixel has p = 0.5
    assert bce_dice_loss(logits, target).item() == pytest.approx(bce + 1 - 4 / 6, rel=1e-6)
    assert bce_dice_loss(logits, target, bce_weight=0.5, dice_weight=2).item() == pytest.approx(
        0.5 * bce + 2 * (1 - 4 / 6), rel=1e-6
    )


def test_dice_multiclass_by_hand():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, generator=g)
    labels = torch.randint(0, 3, (2, 4, 5), generator=g)
    p = torch.softmax(logits, 1).numpy()
    onehot = np.eye(3)[labels.numpy()].transpose(0, 3, 1, 2)
    dice = [
        (2 * (p[n, k] * onehot[n, k]).sum() + 1) / (p[n, k].sum() + onehot[n, k].sum() + 1)
        for n in range(2)
        for k in range(3)
    ]
    expected = 1 - np.mean(dice)
    assert dice_loss(logits, labels).item() == pytest.approx(expected, rel=1e-5)
    assert dice_loss(logits, torch.from_numpy(onehot).float()).item() == pytest.approx(expected, rel=1e-5)
    ce = -np.mean(np.log(np.take_along_axis(p, labels.numpy()[:, None], 1)))
    assert bce_dice_loss(logits, labels).item() == pytest.approx(ce + expected, rel=1e-5)


def test_dice_empty_masks_no_nan():
    logits = torch.full((2, 1, 4, 4), -20.0)  # predicts empty
    target = torch.zeros(2, 1, 4, 4)
    assert dice_loss(logits, target).item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(dice_loss(logits, target, smooth=0.0))
    assert torch.isfinite(bce_dice_loss(logits, target))
    labels = torch.zeros(2, 4, 4, dtype=torch.long)  # classes 1 and 2 absent
    assert torch.isfinite(dice_loss(torch.randn(2, 3, 4, 4), labels, smooth=0.0))


def test_dice_errors():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        dice_loss(torch.randn(1, 3, 2, 2), torch.full((1, 2, 2), 3))
    with pytest.raises(ValueError, match="binary target"):
        dice_loss(torch.randn(1, 1, 2, 2), torch.zeros(1, 2, 2, 2))
    with pytest.raises(ValueError, match="multi-class target"):
        bce_dice_loss(torch.randn(1, 3, 2, 2), torch.zeros(1, 2, 2))  # float (N, H, W) is ambiguous
