"""The segmentation U-Net of Ronneberger et al. 2015 (arXiv:1505.04597), in its modern form.

Two 3x3 "same" convolutions with BatchNorm and ReLU per level, 2x2 max-pool down,
transposed-convolution (or bilinear) up, skip concatenation, a 1x1 output convolution;
logits out, for any H and W (odd sizes are padded in `pconv.nn.blocks.Up`, not resized).
The blocks live in `pconv.nn.blocks`; `forward` reads like the paper's Fig. 1.

What this version adds: `padding="partial"`, partial-convolution based padding (Liu et al.
2018, "Partial Convolution based Padding", arXiv:1811.11718). Every 3x3 convolution treats
its zero padding as holes and re-weights its border outputs by window area / valid area
(`pconv.nn.PartialConv2d` without a mask); the interior is the zero-padded network's, and
the parameters and state-dict keys are the same, so only `config["padding"]` tells them apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from pconv.nn.blocks import DoubleConv, Down, Up, check_padding
from pconv.nn.input_checks import check_image

__all__ = ["UNet"]


class UNet(nn.Module):
    """Segmentation U-Net: (N, in_channels, H, W) -> logits (N, out_channels, H, W).

    Args:
        in_channels: image channels. out_channels: classes (1: binary, use sigmoid).
        features: widths of the levels; the bottleneck has twice the last (the last,
            with `bilinear`). Defaults give the classic ~31.0M-parameter network.
        bilinear: bilinear upsampling instead of transposed convolutions.
        padding: "zeros" (the classic network) or "partial": partial-convolution based
            padding in every 3x3 convolution (arXiv:1811.11718). Checkpoints written
            before this option record none and load as "zeros".
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 1,
        features: Sequence[int] = (64, 128, 256, 512),
        bilinear: bool = False,
        padding: str = "zeros",
    ) -> None:
        super().__init__()
        f = list(features)
        if not f:
            raise ValueError("features must name at least one level width, e.g. (64, 128, 256, 512)")
        check_padding(padding)
        self.in_channels, self.levels = in_channels, len(f)
        # The constructor arguments: checkpoints record them so a model can be rebuilt.
        self.config = dict(
            in_channels=in_channels, out_channels=out_channels, features=list(f), bilinear=bilinear, padding=padding
        )
        bottom = f[-1] if bilinear else 2 * f[-1]
        self.inc = DoubleConv(in_channels, f[0], padding=padding)
        self.downs = nn.ModuleList(Down(a, b, padding) for a, b in zip(f, f[1:] + [bottom]))
        # With bilinear the stage widths step down a level early (parameter-free up keeps channels).
        outs = [f[i - 1] if bilinear and i > 0 else f[i] for i in range(len(f))]
        ins = [bottom] + outs[:0:-1]  # channels arriving from below, deepest first
        self.ups = nn.ModuleList(
            Up(c_in, f[i], outs[i], bilinear, padding) for c_in, i in zip(ins, reversed(range(len(f))))
        )
        self.outc = nn.Conv2d(f[0], out_channels, kernel_size=1)

    def forward(self, image: Tensor) -> Tensor:
        """Args: image (N, C, H, W) float, H and W >= 2**len(features). Returns logits (N, K, H, W)."""
        check_image(image, self.in_channels, "use image[None] for one image")
        if min(image.shape[-2:]) < 2**self.levels:
            raise ValueError(
                f"image height and width must be at least 2**{self.levels} = {2**self.levels} "
                f"(one pixel after {self.levels} max-pools), got {tuple(image.shape[-2:])}"
            )
        skips = [self.inc(image)]  # skips[d]: (N, features[d], H / 2**d, W / 2**d), floored
        for down in self.downs:
            skips.append(down(skips[-1]))
        x = skips.pop()  # bottleneck
        for up in self.ups:
            x = up(x, skips.pop())  # one depth up, padded to the skip's size
        return self.outc(x)  # (N, out_channels, H, W)
