"""The inpainting U-Net's convolution as a choice: partial (the paper), plain, or gated.

One wiring (`pconv.nn.pconv_unet`), three layers, as timm passes layer types. Every block here
has the forward contract of `pconv.nn.blocks.PConvBlock` and `PConvUp`, `(x or parts, mask or
parts) -> (x, mask)`, so the U-Net runs any of them unchanged:

- "partial": Liu et al. 2018 (arXiv:1804.07723, Sec. 3.1): `PConvBlock`, `PConvUp`.
- "plain": ordinary convolutions in the same places (kernels, strides, BatchNorm, activations,
  skips, upsampling), on the image with its holes set to a fixed `hole_value`: the paper's
  baseline of Fig. 2 e/f (holes at 127.5, or at the ImageNet mean). `PlainBlock`.
- "gated": Yu et al. 2019 (arXiv:1806.03589, Sec. 3.2, eq. 2): `phi(W_f x) * sigmoid(W_g x)`,
  the mask an input channel of the network. `GatedBlock`.

What this version changes: the gated layer is one convolution with 2 * C_out outputs, split
into features (first half) and gates (second half), as Yu et al.'s released code does; so its
feature half keeps a bias even where BatchNorm follows (BatchNorm, as in the paper's wiring,
normalises the feature branch before phi; the bias then has no effect in training). Plain and
gated blocks do not update masks: the mask they return is all ones, and so is the network's
output mask. `make_block` and `make_up` build a block of the chosen kind with the arguments of
`PConvBlock` and `PConvUp`; for "partial" they return exactly those classes, called as the
paper's network always called them, so its parameters (and their random initialisation) are
unchanged. `check_conv` and `check_hole_value` are the networks' argument checks.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pconv.nn.blocks import PConvBlock, PConvUp

__all__ = [
    "CONVS",
    "IMAGENET_MEAN",
    "GatedBlock",
    "PlainBlock",
    "VariantUp",
    "check_conv",
    "check_hole_value",
    "hole_fill_values",
    "make_block",
    "make_up",
]

CONVS = ("partial", "plain", "gated")  # the first is the paper's layer, the default
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # hole_value="imagenet": the paper's Fig. 2 f, per RGB channel
ACTIVATIONS = ("relu", "leaky_relu", None)

Parts = Tensor | Sequence[Tensor]


def check_conv(conv: object, mask_channel: object) -> None:
    """Raise ValueError unless `conv` is one of `CONVS` and `mask_channel` a bool that fits it.

    `mask_channel=True` (the mask as an extra input channel) applies to "plain" only: a partial
    convolution carries the mask in its own path, and a gated network always takes the mask as
    an input channel (Yu et al. 2019), so for those two it is refused rather than ignored.
    """
    if not isinstance(conv, str) or conv not in CONVS:
        raise ValueError(
            f"conv must be one of {', '.join(map(repr, CONVS))} ('partial' is the paper's layer), got {conv!r}"
        )
    if not isinstance(mask_channel, bool):
        raise ValueError(f"mask_channel must be True or False, got {mask_channel!r}")
    if mask_channel and conv != "plain":
        why = (
            "partial convolutions carry the mask in their own path"
            if conv == "partial"
            else "a gated network always takes the mask as an input channel (Yu et al. 2019)"
        )
        raise ValueError(f"mask_channel=True applies to conv='plain' only, got conv={conv!r}: {why}")


def check_hole_value(value: object, channels: int) -> float | str:
    """`hole_value` as `.config` records it: a float in [0, 1], or "imagenet" (3 channels only).

    Args:
        value: a number in [0, 1] in image space (0.5 = 127.5 / 255), or "imagenet" for the
            ImageNet mean (0.485, 0.456, 0.406), one value per channel.
        channels: the image's channels.

    Raises:
        ValueError: anything else, naming `hole_value` and the choices.
    """
    choices = "a float in [0, 1] (image space: 0.5 = 127.5/255) or 'imagenet' (the ImageNet mean per channel)"
    if isinstance(value, str):
        if value != "imagenet":
            raise ValueError(f"hole_value must be {choices}, got {value!r}")
        if channels != len(IMAGENET_MEAN):
            raise ValueError(f"hole_value='imagenet' needs 3 image channels (RGB), got in_channels={channels}")
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"hole_value must be {choices}, got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and 0.0 <= number <= 1.0):
        raise ValueError(f"hole_value must be {choices}, got {value!r}")
    return number


def hole_fill_values(hole_value: float | str, channels: int) -> list[float]:
    """The per-channel value that a checked `hole_value` puts under the holes, in [0, 1] image space."""
    return list(IMAGENET_MEAN) if hole_value == "imagenet" else [float(hole_value)] * channels


def _cat(x: Parts) -> Tensor:
    return x if isinstance(x, Tensor) else torch.cat(list(x), dim=1)  # parts along channels, in order


def _activate(x: Tensor, activation: str | None) -> Tensor:
    if activation == "relu":
        return F.relu(x)
    if activation == "leaky_relu":
        return F.leaky_relu(x, 0.2)  # the paper's decoder
    return x


def _check_activation(activation: str | None) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be 'relu', 'leaky_relu' or None, got {activation!r}")


def _ones_mask(x: Tensor) -> Tensor:
    """The mask of a layer without mask update: all valid, (N, 1, H, W) float32."""
    return torch.ones(x.shape[0], 1, *x.shape[-2:], device=x.device, dtype=torch.float32)


class PlainBlock(nn.Module):
    """Ordinary convolution, optional BatchNorm, activation: `PConvBlock`'s row with `nn.Conv2d`.

    Args:
        in_channels, out_channels, kernel_size, stride: of the convolution ("same" padding:
            (kernel_size - 1) // 2, zeros).
        bn: add BatchNorm2d (the convolution then has no bias).
        activation: "relu", "leaky_relu" (slope 0.2) or None.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        bn: bool = True,
        activation: str | None = "relu",
    ) -> None:
        super().__init__()
        _check_activation(activation)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2, bias=not bn)
        self.bn = nn.BatchNorm2d(out_channels) if bn else None
        self.activation = activation

    def forward(self, x: Parts, mask: Parts) -> tuple[Tensor, Tensor]:
        """Args: x (N, C_in, H, W) or parts to concatenate, holes already filled; mask: unused
        (no mask update). Returns features (N, C_out, H', W') and an all-ones (N, 1, H', W') mask."""
        x = self.conv(_cat(x))  # (N, C_out, H', W')
        if self.bn is not None:
            x = self.bn(x)
        x = _activate(x, self.activation)
        return x, _ones_mask(x)


class GatedBlock(nn.Module):
    """Gated convolution (Yu et al. 2019, eq. 2), optional BatchNorm on the feature branch, phi.

    `out = phi(BN(W_f x)) * sigmoid(W_g x)`: one convolution with 2 * out_channels outputs,
    features first, gates second (see the module header). With activation=None (the network's
    last layer) phi is the identity and the output is still gated.

    Args:
        in_channels, out_channels, kernel_size, stride: of each branch ("same" padding).
        bn: BatchNorm2d on the feature branch before phi.
        activation: phi: "relu", "leaky_relu" (slope 0.2) or None (identity).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        bn: bool = True,
        activation: str | None = "relu",
    ) -> None:
        super().__init__()
        _check_activation(activation)
        self.conv = nn.Conv2d(in_channels, 2 * out_channels, kernel_size, stride, (kernel_size - 1) // 2)
        self.bn = nn.BatchNorm2d(out_channels) if bn else None
        self.activation = activation

    def forward(self, x: Parts, mask: Parts) -> tuple[Tensor, Tensor]:
        """Args: x (N, C_in, H, W) or parts to concatenate (the network's input carries the mask
        as a channel); mask: unused (no mask update). Returns (N, C_out, H', W') features and an
        all-ones (N, 1, H', W') mask."""
        feature, gate = self.conv(_cat(x)).chunk(2, dim=1)  # (N, C_out, H', W') each
        if self.bn is not None:
            feature = self.bn(feature)
        x = _activate(feature, self.activation) * torch.sigmoid(gate)
        return x, _ones_mask(x)


BLOCKS: dict[str, type[nn.Module]] = {"partial": PConvBlock, "plain": PlainBlock, "gated": GatedBlock}


class VariantUp(nn.Module):
    """`PConvUp` for the layers without mask update: upsample x2, concatenate the skip, a block at stride 1.

    Args:
        conv: "plain" or "gated". in_channels: of the deeper features. skip_channels: of the
            skip. out_channels: of this stage. bn, activation: as in the block.
        upsampling: "nearest" (paper) or "bilinear" for the features.
    """

    def __init__(
        self,
        conv: str,
        in_channels: int,
        skip_channels: int,
        out_channels: int,
        bn: bool = True,
        activation: str | None = "leaky_relu",
        upsampling: str = "nearest",
    ) -> None:
        super().__init__()
        if conv not in ("plain", "gated"):
            raise ValueError(f"conv must be 'plain' or 'gated' (for 'partial' use PConvUp), got {conv!r}")
        if upsampling not in ("nearest", "bilinear"):
            raise ValueError(f"upsampling must be 'nearest' or 'bilinear', got {upsampling!r}")
        self.upsampling = upsampling
        self.block = BLOCKS[conv](in_channels + skip_channels, out_channels, 3, 1, bn, activation)

    def forward(self, x: Tensor, mask: Tensor, skip: Tensor, skip_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Args: x (N, C_in, h, w) from below; skip (N, C_skip, 2h, 2w); masks unused. Returns
        (N, C_out, 2h, 2w) features and an all-ones mask."""
        if self.upsampling == "nearest":
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")  # (N, C_in, 2h, 2w)
        else:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.block((x, skip), (mask, skip_mask))


def make_block(
    conv: str,
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    stride: int = 1,
    bn: bool = True,
    activation: str | None = "relu",
) -> nn.Module:
    """A block of kind `conv` ("partial": `PConvBlock`, "plain": `PlainBlock`, "gated": `GatedBlock`)."""
    check_conv(conv, False)
    return BLOCKS[conv](in_channels, out_channels, kernel_size, stride=stride, bn=bn, activation=activation)


def make_up(
    conv: str,
    in_channels: int,
    skip_channels: int,
    out_channels: int,
    bn: bool = True,
    activation: str | None = "leaky_relu",
    upsampling: str = "nearest",
) -> nn.Module:
    """A decoder stage of kind `conv` ("partial": `PConvUp`, else `VariantUp`), with `PConvUp`'s arguments."""
    check_conv(conv, False)
    if conv == "partial":
        return PConvUp(in_channels, skip_channels, out_channels, bn=bn, activation=activation, upsampling=upsampling)
    return VariantUp(conv, in_channels, skip_channels, out_channels, bn, activation, upsampling)
