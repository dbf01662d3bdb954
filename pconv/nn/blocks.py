"""Building blocks for the two U-Nets in `pconv.nn.pconv_unet`.

- `PConvBlock`, `PConvUp`: the partial-convolution U-Net's layers (Liu et al. 2018,
  arXiv:1804.07723, section 3.2 and appendix). `PConvBlock` is one row of the
  appendix table (partial convolution, BatchNorm, activation): the stride-2 encoder
  stage, and at stride 1 the decoder's convolution (inside `PConvUp`) and the
  stem and head of `PConvUNetWithStem`. What this version changes: every block returns features
  that are exactly zero under its output mask (masking before the activation equals
  masking after it, since relu(0) = leaky_relu(0) = 0). The next partial convolution
  then skips its own masking of `x`, which saves one full-size activation per layer.
  Blocks also skip the layer's binary-mask check: their masks are the model's input
  mask, which the model checks once, or masks that a partial convolution returned.
- `DoubleConv`, `Down`, `Up`: the segmentation U-Net (Ronneberger et al. 2015,
  arXiv:1505.04597) in its modern form: "same" 3x3 convolutions with BatchNorm,
  and odd sizes handled by padding the upsampled tensor to the skip's size. With
  `padding="partial"` each 3x3 convolution is partial-convolution based padding (Liu et
  al. 2018, arXiv:1811.11718): the zero padding counted as holes, border outputs
  re-weighted by window area / valid area; the state-dict keys stay those of "zeros".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pconv.nn.partial_conv import PartialConv2d

__all__ = ["DoubleConv", "Down", "PConvBlock", "PConvUp", "Up"]


class PConvBlock(nn.Module):
    """Partial convolution, optional BatchNorm, activation: one row of the paper's table.

    Args:
        in_channels, out_channels, kernel_size, stride: of the partial convolution
            ("same" padding: (kernel_size - 1) // 2).
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
        if activation not in ("relu", "leaky_relu", None):
            raise ValueError(f"activation must be 'relu', 'leaky_relu' or None, got {activation!r}")
        self.conv = PartialConv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            (kernel_size - 1) // 2,
            bias=not bn,
        )
        self.bn = nn.BatchNorm2d(out_channels) if bn else None
        self.activation = activation

    def forward(self, x: Tensor | list[Tensor], mask: Tensor | list[Tensor]) -> tuple[Tensor, Tensor]:
        """Args: x (N, C_in, H, W) (or parts), **already zero under holes**; mask (N, 1, H, W)
        (or one per part). Returns features (N, C_out, H', W'), zero where the new mask
        is 0, and the new mask (N, 1, H', W')."""
        x, mask = self.conv(x, mask, premasked=True, check_mask=False)  # binary: checked by the model, or made here
        if self.bn is not None:
            # BatchNorm does not save its output for backward, so masking it in place is
            # safe; the statistics include hole pixels, as in the reference implementation.
            x = self.bn(x).mul_(mask)
        if self.activation == "relu":
            x = F.relu_(x)
        elif self.activation == "leaky_relu":
            x = F.leaky_relu_(x, 0.2)
        return x, mask


class PConvUp(nn.Module):
    """Upsample x2 (features and mask), concatenate the skip, `PConvBlock` at stride 1.

    Args:
        in_channels: channels of the deeper features. skip_channels: of the skip.
        out_channels: of this stage. bn, activation: as in `PConvBlock`.
        upsampling: "nearest" (paper) or "bilinear" for the features; the mask is
            always upsampled by nearest neighbour, and bilinear features are re-masked.
    """

    def __init__(
        self,
        in_channels: int,
        skip_channels: int,
        out_channels: int,
        bn: bool = True,
        activation: str | None = "leaky_relu",
        upsampling: str = "nearest",
    ) -> None:
        super().__init__()
        if upsampling not in ("nearest", "bilinear"):
            raise ValueError(f"upsampling must be 'nearest' or 'bilinear', got {upsampling!r}")
        self.upsampling = upsampling
        self.block = PConvBlock(in_channels + skip_channels, out_channels, 3, 1, bn, activation)

    def forward(self, x: Tensor, mask: Tensor, skip: Tensor, skip_mask: Tensor) -> tuple[Tensor, Tensor]:
        """Args: x (N, C_in, h, w) and mask (N, 1, h, w) from below; skip (N, C_skip, 2h, 2w)
        and skip_mask (N|1, 1, 2h, 2w), both zero under holes. Returns (N, C_out, 2h, 2w)
        features and their mask."""
        mask = F.interpolate(mask, scale_factor=2.0, mode="nearest")  # (N, 1, 2h, 2w)
        if self.upsampling == "nearest":
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")  # stays zero under the holes
        else:
            x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False) * mask.to(x.dtype)
        # The parts form: exact equal of the paper's concatenated multi-channel mask.
        return self.block((x, skip), (mask, skip_mask))


PADDINGS = ("zeros", "partial")  # the segmentation blocks' 3x3 convolution padding


def check_padding(padding: str) -> str:
    """`padding` if it is one of `PADDINGS`, else a ValueError naming the choices."""
    if padding not in PADDINGS:
        raise ValueError(
            f"padding must be 'zeros' (ordinary zero padding) or 'partial' (partial-convolution "
            f"based padding, arXiv:1811.11718), got {padding!r}"
        )
    return padding


class PartialPadConv2d(PartialConv2d):
    """A `PartialConv2d` called without a mask: only its zero padding is hole (arXiv:1811.11718, eq. 1).

    `out = conv(x, no bias) * (kh * kw) / valid + bias`, with `valid` the in-image inputs
    under the window; interior outputs equal the zero-padded convolution's. Returns the
    features only, so it stands in for `nn.Conv2d` with the same state-dict keys.
    """

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """(N, C_in, H, W) -> (N, C_out, H', W')."""
        return super().forward(x)[0]


def conv3x3(in_channels: int, out_channels: int, padding: str = "zeros") -> nn.Conv2d:
    """A 3x3 "same" convolution without bias (BatchNorm follows), zero or partial padding."""
    conv = PartialPadConv2d if check_padding(padding) == "partial" else nn.Conv2d
    return conv(in_channels, out_channels, 3, padding=1, bias=False)


class DoubleConv(nn.Module):
    """(3x3 "same" conv, BatchNorm, ReLU) twice; convs have no bias (BatchNorm follows).

    Args:
        in_channels, out_channels: of the block. mid_channels: between the two convolutions
            (default `out_channels`).
        padding: "zeros", or "partial" for partial-convolution based padding (`PartialPadConv2d`).
    """

    def __init__(
        self, in_channels: int, out_channels: int, mid_channels: int | None = None, padding: str = "zeros"
    ) -> None:
        super().__init__()
        mid_channels = mid_channels or out_channels
        self.net = nn.Sequential(
            conv3x3(in_channels, mid_channels, padding),
            nn.BatchNorm2d(mid_channels),
            nn.ReLU(inplace=True),
            conv3x3(mid_channels, out_channels, padding),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, C_out, H, W)."""
        return self.net(x)


class Down(nn.Module):
    """2x2 max-pool (floor on odd sizes), then `DoubleConv` (its `padding`: "zeros" or "partial")."""

    def __init__(self, in_channels: int, out_channels: int, padding: str = "zeros") -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.conv = DoubleConv(in_channels, out_channels, padding=padding)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C_in, H, W) -> (N, C_out, H // 2, W // 2)."""
        return self.conv(self.pool(x))


class Up(nn.Module):
    """Upsample x2, pad to the skip's size, concatenate [skip, x], `DoubleConv`.

    Args:
        in_channels: channels of the deeper features. skip_channels: of the skip.
        out_channels: of this stage.
        bilinear: bilinear upsampling (no parameters) instead of a 2x2 transposed
            convolution to `skip_channels` channels.
        padding: of the `DoubleConv`, "zeros" or "partial". The rows and columns that
            align an odd-sized skip are zeros of the features, not convolution padding.
    """

    def __init__(
        self,
        in_channels: int,
        skip_channels: int,
        out_channels: int,
        bilinear: bool = False,
        padding: str = "zeros",
    ) -> None:
        super().__init__()
        if bilinear:
            self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            up_channels = in_channels
        else:
            self.up = nn.ConvTranspose2d(in_channels, skip_channels, kernel_size=2, stride=2)
            up_channels = skip_channels
        total = up_channels + skip_channels
        self.conv = DoubleConv(total, out_channels, total // 2 if bilinear else None, padding)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        """x (N, C_in, h, w), skip (N, C_skip, H, W) with H in {2h, 2h + 1} -> (N, C_out, H, W)."""
        x = self.up(x)  # (N, C_up, 2h, 2w)
        dy, dx = skip.shape[-2] - x.shape[-2], skip.shape[-1] - x.shape[-1]
        if dy or dx:  # odd input sizes: pad, never resize the skip
            x = F.pad(x, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([skip, x], dim=1))  # (N, C_out, H, W)
