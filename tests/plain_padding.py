"""Partial-convolution based padding (Liu et al. 2018, arXiv:1811.11718) written plainly, for
tests/nn/test_blocks.py and tests/nn/test_unet.py.

Only the zero padding is hole: out = conv(x, no bias) * window area / valid count + bias, the
valid count being a convolution of a ones image with a ones kernel. Everything else (BatchNorm
with the module's statistics, ReLU, pooling, upsampling, skips) is written out with
torch.nn.functional and the modules' own parameters, in eval mode.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def plain_partial_padding(x: torch.Tensor, conv: torch.nn.Conv2d) -> torch.Tensor:
    """conv(x, zero padding, no bias) * (kh * kw) / valid + bias, for `conv`'s weight, bias, stride and padding."""
    kh, kw = conv.kernel_size
    raw = F.conv2d(x, conv.weight, None, conv.stride, conv.padding)  # (N, C_out, H', W')
    ones = torch.ones(1, 1, *x.shape[-2:], dtype=x.dtype)
    valid = F.conv2d(ones, torch.ones(1, 1, kh, kw, dtype=x.dtype), None, conv.stride, conv.padding)  # (1, 1, H', W')
    out = raw * (kh * kw) / valid
    return out if conv.bias is None else out + conv.bias.view(1, -1, 1, 1)


def plain_double_conv(x: torch.Tensor, block: torch.nn.Module) -> torch.Tensor:
    """A `DoubleConv` with partial padding: (conv, BatchNorm with the block's statistics, ReLU) twice."""
    for conv, bn in ((block.net[0], block.net[1]), (block.net[3], block.net[4])):
        x = plain_partial_padding(x, conv)
        x = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        x = F.relu(x)
    return x


def plain_unet(image: torch.Tensor, net: torch.nn.Module) -> torch.Tensor:
    """A `UNet`'s forward with every 3x3 convolution partially padded (`plain_double_conv`)."""
    skips = [plain_double_conv(image, net.inc)]
    for down in net.downs:
        skips.append(plain_double_conv(F.max_pool2d(skips[-1], 2), down.conv))
    x = skips.pop()  # bottleneck
    for up in net.ups:
        skip = skips.pop()
        if isinstance(up.up, torch.nn.ConvTranspose2d):
            x = F.conv_transpose2d(x, up.up.weight, up.up.bias, stride=2)
        else:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        dy, dx = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
        x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])  # odd sizes: the skip's size
        x = plain_double_conv(torch.cat([skip, x], 1), up.conv)
    return F.conv2d(x, net.outc.weight, net.outc.bias)  # 1x1: no padding
