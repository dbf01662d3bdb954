"""Tests for pconv.nn.blocks: the partial-convolution U-Net's blocks against a plain re-implementation,
and the segmentation U-Net's blocks at odd sizes, with zero or partial-convolution based padding
(Liu et al. 2018, arXiv:1811.11718) against the plain re-weighting of tests/plain_padding.py.

The reference writes Liu et al. 2018 (arXiv:1804.07723, Sec. 3.1, eq. 1 and 2) with an explicit
multi-channel mask, the one-channel mask repeated over the channels of its part:
out = W^T (X * M) * sum(1) / sum(M) + b where sum(M) > 0, else 0; new mask = sum(M) > 0;
then BatchNorm, zero under the new mask, activation. PConvUp concatenates the upsampled
features and the skip, and their masks, as the paper's decoder does (Sec. 3.2).
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from plain_padding import plain_double_conv, plain_partial_padding

from pconv.nn.blocks import DoubleConv, Down, PartialPadConv2d, PConvBlock, PConvUp, Up

D = torch.float64


def holes(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, h, w, generator=gen) > 0.4).to(D)  # (n, 1, h, w), 1 = valid


def plain_partial_conv(conv: torch.nn.Conv2d, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 1 and 2 with a C_in-channel mask `mask` (N, C_in, H, W), window sums by convolution with ones."""
    ones = torch.ones(1, x.shape[1], *conv.kernel_size, dtype=D)
    valid = F.conv2d(mask, ones, stride=conv.stride, padding=conv.padding)  # (N, 1, H', W'), zero padding = hole
    raw = F.conv2d(x * mask, conv.weight, None, conv.stride, conv.padding)
    out = raw * ones.sum() / valid.clamp(min=1)
    if conv.bias is not None:
        out = out + conv.bias.view(1, -1, 1, 1)
    new_mask = (valid > 0).to(D)
    return out * new_mask, new_mask


def plain_block(block: PConvBlock, bn: torch.nn.Module | None, x, mask) -> tuple[torch.Tensor, torch.Tensor]:
    out, new_mask = plain_partial_conv(block.conv, x, mask)
    if bn is not None:
        out = bn(out) * new_mask
    act = {"relu": F.relu, "leaky_relu": lambda t: F.leaky_relu(t, 0.2), None: lambda t: t}[block.activation]
    return act(out), new_mask


def randomise_bn(module: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    for bn in (m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        c = bn.num_features
        bn.weight.data = 1 + 0.3 * torch.randn(c, generator=gen, dtype=D)
        bn.bias.data = 0.3 * torch.randn(c, generator=gen, dtype=D)
        bn.running_mean = 0.3 * torch.randn(c, generator=gen, dtype=D)
        bn.running_var = 0.5 + torch.rand(c, generator=gen, dtype=D)


@pytest.mark.parametrize("train", [False, True])
@pytest.mark.parametrize(
    "kernel, stride, bn, activation", [(7, 2, False, "relu"), (5, 2, True, "relu"), (3, 1, True, "leaky_relu")]
)
def test_pconv_block_is_the_paper_layer(kernel, stride, bn, activation, train):
    torch.manual_seed(0)
    block = PConvBlock(4, 6, kernel, stride, bn=bn, activation=activation).to(D)
    randomise_bn(block, 1)
    block.train(train)
    reference_bn = copy.deepcopy(block.bn)  # its own running statistics, updated alike in training
    mask = holes(2, 13, 16, seed=2)
    x = torch.randn(2, 4, 13, 16, dtype=D) * mask  # the block's input is zero under holes
    want, want_mask = plain_block(block, reference_bn, x, mask.expand(-1, 4, -1, -1))
    got, got_mask = block(x, mask)
    h, w = -(-13 // stride), -(-16 // stride)
    assert got.shape == (2, 6, h, w) and got_mask.shape == (2, 1, h, w)
    assert torch.equal(got_mask.to(D), want_mask)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)  # the mask path runs in fp32
    assert (got * (1 - got_mask)).abs().max() == 0  # exactly zero under the new mask
    assert (block.conv.bias is None) == bn  # BatchNorm follows: no bias


@pytest.mark.parametrize("upsampling", ["nearest", "bilinear"])
def test_pconv_up_is_the_paper_decoder_on_concatenated_masks(upsampling):
    torch.manual_seed(0)
    up = PConvUp(6, 3, 5, upsampling=upsampling).to(D).eval()
    randomise_bn(up, 3)
    mask, skip_mask = holes(2, 4, 5, seed=4), holes(2, 8, 10, seed=5)
    x = torch.randn(2, 6, 4, 5, dtype=D) * mask
    skip = torch.randn(2, 3, 8, 10, dtype=D) * skip_mask
    # the reference: upsample features and mask by 2, concatenate [x, skip] and their masks channel by channel
    mask_up = F.interpolate(mask, scale_factor=2.0, mode="nearest")
    if upsampling == "nearest":
        x_up = F.interpolate(x, scale_factor=2.0, mode="nearest")
    else:
        x_up = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False) * mask_up
    cat_mask = torch.cat([mask_up.expand(-1, 6, -1, -1), skip_mask.expand(-1, 3, -1, -1)], 1)  # (2, 9, 8, 10)
    want, want_mask = plain_block(up.block, up.block.bn, torch.cat([x_up, skip], 1), cat_mask)
    got, got_mask = up(x, mask, skip, skip_mask)
    assert got.shape == (2, 5, 8, 10) and got_mask.shape == (2, 1, 8, 10)
    assert torch.equal(got_mask.to(D), want_mask)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)  # the mask path runs in fp32
    assert up.block.activation == "leaky_relu"  # the paper's decoder: LeakyReLU(0.2)


def test_block_arguments_are_checked():
    with pytest.raises(ValueError, match="activation must be 'relu', 'leaky_relu' or None, got 'gelu'"):
        PConvBlock(3, 4, 3, activation="gelu")
    with pytest.raises(ValueError, match="upsampling must be 'nearest' or 'bilinear', got 'bicubic'"):
        PConvUp(4, 4, 4, upsampling="bicubic")


def test_double_conv_keeps_odd_sizes():
    net = DoubleConv(3, 8, mid_channels=5)
    assert net(torch.rand(2, 3, 37, 53)).shape == (2, 8, 37, 53)
    assert net.net[0].out_channels == 5 and net.net[0].bias is None  # BatchNorm follows: no bias


@pytest.mark.parametrize("h, w", [(37, 53), (36, 52), (5, 4)])
def test_down_floors_and_up_pads_back_to_the_skip(h, w):
    skip = torch.rand(2, 4, h, w)
    down = Down(4, 8)(skip)
    assert down.shape == (2, 8, h // 2, w // 2)
    for bilinear in (False, True):
        up = Up(8, 4, 6, bilinear=bilinear)
        assert up(down, skip).shape == (2, 6, h, w)  # padded to the skip's size, never resized


def test_up_pads_evenly_and_puts_the_skip_first():
    up = Up(2, 2, 3, bilinear=True)  # no parameters before the convolutions: the padding is visible
    seen = []
    up.conv.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    x, skip = torch.ones(1, 2, 2, 2), torch.full((1, 2, 7, 5), 7.0)
    up(x, skip)
    cat = seen[0]  # (1, 4, 7, 5): [skip, upsampled x padded by (0, 1) columns and (1, 2) rows]
    assert torch.equal(cat[:, :2], skip)
    padded = cat[0, 2]
    assert torch.allclose(padded[1:5, :4], torch.ones(4, 4))
    assert padded[0].eq(0).all() and padded[5:].eq(0).all() and padded[:, 4].eq(0).all()


@pytest.mark.parametrize("h, w", [(9, 9), (10, 7)])
@pytest.mark.parametrize("bias", [False, True])
def test_partial_padding_conv_is_the_plain_reweighting(h, w, bias):
    torch.manual_seed(0)
    conv = PartialPadConv2d(3, 5, 3, padding=1, bias=bias)
    x = torch.randn(2, 3, h, w)
    got = conv(x)
    torch.testing.assert_close(got, plain_partial_padding(x, conv), rtol=1e-5, atol=1e-5)
    raw = F.conv2d(x, conv.weight, None, padding=1)  # zero padding, no bias
    b = torch.zeros(5) if conv.bias is None else conv.bias
    assert torch.equal(got[..., 1:-1, 1:-1], (raw + b.view(1, -1, 1, 1))[..., 1:-1, 1:-1])  # interior: ratio 1
    # a corner window holds 4 of its 9 inputs, an edge window 6
    torch.testing.assert_close(got[..., 0, 0] - b, raw[..., 0, 0] * 9 / 4, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got[..., 0, 3] - b, raw[..., 0, 3] * 9 / 6, rtol=1e-5, atol=1e-5)


def test_double_conv_with_partial_padding_is_the_plain_block_and_keeps_its_keys():
    torch.manual_seed(1)
    block = DoubleConv(3, 6, mid_channels=4, padding="partial").to(D).eval()
    randomise_bn(block, 1)
    zeros = DoubleConv(3, 6, mid_channels=4).to(D).eval()
    assert list(zeros.state_dict()) == list(block.state_dict())  # checkpoints of either load into both
    zeros.load_state_dict(block.state_dict())
    x = torch.rand(2, 3, 11, 8, dtype=D)
    got, want = block(x), zeros(x)
    torch.testing.assert_close(got, plain_double_conv(x, block), rtol=1e-5, atol=1e-5)
    assert got.shape == want.shape == (2, 6, 11, 8)
    assert torch.equal(got[..., 2:-2, 2:-2], want[..., 2:-2, 2:-2])  # two 3x3 convolutions: 2 px of border
    assert not torch.allclose(got[..., 0, :], want[..., 0, :])  # the border is re-weighted


def test_down_and_up_pass_the_padding_to_their_convolutions():
    for block in (Down(4, 8, padding="partial"), Up(8, 4, 6, padding="partial"), Up(8, 4, 6, True, "partial")):
        convs = [m for m in block.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
        assert len(convs) == 2 and all(isinstance(m, PartialPadConv2d) for m in convs)
    for block in (Down(4, 8), Up(8, 4, 6), Up(8, 4, 6, bilinear=True)):
        assert not any(isinstance(m, PartialPadConv2d) for m in block.modules())


def test_segmentation_blocks_refuse_an_unknown_padding():
    for build in (
        lambda: DoubleConv(3, 4, padding="same"),
        lambda: Down(3, 4, "reflect"),
        lambda: Up(4, 4, 4, padding=1),
    ):
        with pytest.raises(ValueError, match=r"padding must be 'zeros' \(ordinary zero padding\) or 'partial'"):
            build()
