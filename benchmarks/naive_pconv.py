"""Comparison networks for bench_pconv.py: the plain twin and a naive reference.

- `NaivePartialConv2d`: the NVIDIA/partialconv style (Liu et al. 2018,
  arXiv:1804.07723), written here from the formula: C-channel masks convolved with
  a ones(C_out, C_in, kh, kw) kernel, `K / (S + 1e-8)`, bias removed and re-added.
- `Twin`: the same network as a `PConvUNet`, with its weights copied, built either
  from plain `nn.Conv2d` (no mask path at all: the speed and memory limit) or from
  `NaivePartialConv2d` with multi-channel masks concatenated at the skips.
- `Unchecked`: the same `PConvUNet` (weights copied) without its entry checks: what
  checking the input costs.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pconv.nn import PConvUNet


class NaivePartialConv2d(nn.Conv2d):
    """Multi-channel partial convolution the straightforward way; returns a C_out-channel mask."""

    def forward(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            ones = torch.ones_like(self.weight)  # (C_out, C_in, kh, kw)
            s = F.conv2d(mask, ones, None, self.stride, self.padding, self.dilation)  # (N, C_out, H', W')
            ratio = ones[0].numel() / (s + 1e-8)
            new_mask = s.clamp(0, 1)
            ratio = ratio * new_mask
        raw = super().forward(x * mask)
        if self.bias is None:
            return raw * ratio, new_mask
        b = self.bias.view(1, -1, 1, 1)
        return ((raw - b) * ratio + b) * new_mask, new_mask


def _act(x: Tensor, activation: str | None) -> Tensor:
    if activation == "relu":
        return F.relu_(x)
    if activation == "leaky_relu":
        return F.leaky_relu_(x, 0.2)
    return x


class Twin(nn.Module):
    """`model`'s architecture and weights with `kind` = "plain" or "naive" convolutions.

    forward(image, mask) -> output; "plain" ignores the mask.
    """

    def __init__(self, model: PConvUNet, kind: str = "plain") -> None:
        super().__init__()
        if kind not in ("plain", "naive"):
            raise ValueError(f"kind must be 'plain' or 'naive', got {kind!r}")
        self.kind = kind
        conv_cls = nn.Conv2d if kind == "plain" else NaivePartialConv2d
        blocks = list(model.encoder) + [up.block for up in model.decoder]
        self.convs, self.bns, self.acts = nn.ModuleList(), nn.ModuleList(), []
        for b in blocks:
            c = b.conv
            conv = conv_cls(
                c.in_channels,
                c.out_channels,
                c.kernel_size,
                c.stride,
                c.padding,
                bias=c.bias is not None,
            )
            conv.load_state_dict(c.state_dict())
            self.convs.append(conv)
            self.bns.append(copy.deepcopy(b.bn) if b.bn is not None else nn.Identity())
            self.acts.append(b.activation)
        self.layers = model.layers

    def _block(self, i: int, x: Tensor, m: Tensor | None) -> tuple[Tensor, Tensor | None]:
        if self.kind == "plain":
            x, m = self.convs[i](x), None
        else:
            x, m = self.convs[i](x, m)
        return _act(self.bns[i](x), self.acts[i]), m

    def forward(self, image: Tensor, mask: Tensor) -> Tensor:
        x, m = image, (None if self.kind == "plain" else mask.expand_as(image))
        skips = [(x, m)]
        for i in range(self.layers):
            x, m = self._block(i, x, m)
            skips.append((x, m))
        x, m = skips.pop()
        for i in range(self.layers, 2 * self.layers):
            s, sm = skips.pop()
            x = torch.cat([F.interpolate(x, scale_factor=2.0), s], 1)
            if m is not None:
                m = torch.cat([F.interpolate(m, scale_factor=2.0), sm], 1)
            x, m = self._block(i, x, m)
        return x


class Unchecked(nn.Module):
    """A copy of `model` whose forward is its U-Net on the masked image, without the entry checks.

    forward(image, mask) -> (output, output_mask), as `PConvUNet.forward` for a model without `normalize`.
    """

    def __init__(self, model: PConvUNet) -> None:
        super().__init__()
        self.model = copy.deepcopy(model)  # its own weights, gradients and optimizer state, like the twins

    def forward(self, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        return self.model.unet(image * mask, mask)
