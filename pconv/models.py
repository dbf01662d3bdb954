"""The two networks of the playground, wired from the blocks in `pconv.parts`.

- `PConvUNet`: the inpainting network of Liu et al. 2018 (arXiv:1804.07723, section
  3.2 and appendix table): a U-Net of partial convolutions whose decoder concatenates
  features and masks. This version adds entry checks with actionable messages,
  `freeze_encoder_bn` for the paper's fine-tuning stage, and `inpaint` for images of
  any size (reflect-pads to the needed multiple, composites, crops back).
- `UNet`: the segmentation U-Net of Ronneberger et al. 2015 (arXiv:1505.04597) in its
  modern form ("same" convs, BatchNorm, transposed-conv or bilinear up); any H, W.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .layers import harmonic_fill
from .parts import DoubleConv, Down, PConvDown, PConvUp, Up
from .utils import check_binary_mask

__all__ = ["PConvUNet", "UNet"]


def _check_image(image: Tensor, channels: int, hint: str) -> None:
    """Raise ValueError unless `image` is a (N, channels, H, W) tensor; `hint` says what to do."""
    if not isinstance(image, Tensor) or image.ndim != 4 or image.shape[1] != channels:
        shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
        raise ValueError(f"image must be (N, {channels}, H, W), got {shape}; {hint}")


class PConvUNet(nn.Module):
    """Partial-convolution U-Net for image inpainting.

    Encoder stage i (i = 0..layers-1): partial conv, kernel 7, 5, 5, 3, 3, ... stride 2,
    base_channels * 2**i channels capped at max_channels, BatchNorm except at i = 0,
    ReLU. Decoder stage i (deepest first): upsample x2, concatenate the skip of the
    same depth (the input image and mask at depth 0), 3x3 partial conv, BatchNorm and
    LeakyReLU(0.2), except the last stage: bias, no BatchNorm, no activation, outputs
    `in_channels`. Defaults give the paper's 256x256 network (~25.8M parameters);
    use layers=8 for 512x512.

    `stem_channels > 0` (not in the paper) wraps that network in two full-resolution
    3x3 partial convolutions: a stem (ReLU) whose features take the image's place as
    the U-Net's input and depth-0 skip, and a head that sees the U-Net's output with
    the input image and predicts the image. The paper's network has only one layer
    at full resolution, its last; small, short-trained networks gain most from more
    (benchmarks/RESULTS.md, "Quality": +0.4 to +0.7 dB at 64x64).

    `residual=True` (not in the paper) adds the network's output to a classical fill of
    the holes, `pconv.layers.harmonic_fill(image, mask)`, and zero-initialises the last
    layer: the untrained model is that fill, and training learns a correction to it.
    On a few CPU minutes of training, a network that has to learn smooth interpolation
    from scratch is still worse at it than the fill (benchmarks/RESULTS.md, "Quality").

    Args:
        in_channels: image channels. layers: encoder depth; H and W must be multiples
            of 2**layers. base_channels, max_channels: stage widths.
        upsampling: "nearest" (paper) or "bilinear" for the decoder features.
        stem_channels: width of the full-resolution stem and head; 0 (default) for
            the paper's network.
        residual: predict a correction to `harmonic_fill`; False (default) for the
            paper's network.
    """

    def __init__(
        self,
        in_channels: int = 3,
        layers: int = 7,
        base_channels: int = 64,
        max_channels: int = 512,
        upsampling: str = "nearest",
        stem_channels: int = 0,
        residual: bool = False,
    ) -> None:
        super().__init__()
        if stem_channels < 0:
            raise ValueError(f"stem_channels must be >= 0 (0: the paper's network), got {stem_channels}")
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        if upsampling not in ("nearest", "bilinear"):
            raise ValueError(f"upsampling must be 'nearest' (paper) or 'bilinear', got {upsampling!r}")
        self.in_channels, self.layers, self.upsampling = in_channels, layers, upsampling
        # The constructor arguments: checkpoints record them so a model can be rebuilt.
        self.config = dict(
            in_channels=in_channels,
            layers=layers,
            base_channels=base_channels,
            max_channels=max_channels,
            upsampling=upsampling,
            stem_channels=stem_channels,
            residual=residual,
        )
        self.residual = residual
        kernels = [7, 5, 5] + [3] * max(layers - 3, 0)
        widths = [min(base_channels * 2**i, max_channels) for i in range(layers)]
        top = stem_channels or in_channels  # what enters the U-Net: the image, or stem features
        skips = [top] + widths[:-1]  # channels of the skip at each depth
        self.stem = PConvDown(in_channels, stem_channels, 3, stride=1, bn=False) if stem_channels else None
        self.head = (
            PConvDown(stem_channels + in_channels, in_channels, 3, stride=1, bn=False, activation=None)
            if stem_channels
            else None
        )
        self.encoder = nn.ModuleList(
            PConvDown(skips[i], widths[i], kernels[i], stride=2, bn=i > 0, activation="relu") for i in range(layers)
        )
        # decoder[j] is the stage at depth layers-1-j: deepest first, as it runs.
        self.decoder = nn.ModuleList(
            PConvUp(
                widths[i],
                skips[i],
                skips[i],
                bn=i > 0,
                activation="leaky_relu" if i > 0 else None,
                upsampling=upsampling,
            )
            for i in reversed(range(layers))
        )
        if residual:  # start as the classical fill, so the network only ever learns a correction to it
            last = (self.head if self.head is not None else self.decoder[-1].block).conv
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        self._encoder_bn_frozen = False

    @property
    def multiple(self) -> int:
        """H and W of `forward` inputs must be multiples of this (2**layers)."""
        return 2**self.layers

    def _check_inputs(self, image: Tensor, mask: Tensor) -> None:
        _check_image(
            image, self.in_channels, "add a batch dimension with image[None], or use model.inpaint() for a single image"
        )
        if not image.is_floating_point():
            raise ValueError(f"image must be a float tensor in [0, 1], got dtype {image.dtype}")
        if not isinstance(mask, Tensor) or mask.ndim != 4 or mask.shape[1] != 1:
            shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
            raise ValueError(f"mask must be (N, 1, H, W) with 1 = valid and 0 = hole, got {shape}")
        if mask.shape[0] not in (1, image.shape[0]) or mask.shape[-2:] != image.shape[-2:]:
            raise ValueError(
                f"mask {tuple(mask.shape)} does not match image {tuple(image.shape)}: "
                "they need the same H and W, and mask batch 1 or N"
            )
        h, w = image.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise ValueError(
                f"image height and width must be multiples of 2**layers = {self.multiple} "
                f"(layers={self.layers}), got {h}x{w}; pad or crop to a multiple, "
                "or call model.inpaint(image, mask), which pads and crops back for you"
            )
        check_binary_mask(mask, "mask")

    def forward(self, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Run the network.

        Args:
            image: (N, C, H, W) float in [0, 1] (values under holes are ignored).
            mask: (N|1, 1, H, W), 1 = valid, 0 = hole, binary; H, W multiples of 2**layers.

        Returns:
            output: (N, C, H, W), the raw prediction (not composited, not clamped).
            output_mask: (N, 1, H, W) float32, 0 only where no valid pixel was reachable.
        """
        self._check_inputs(image, mask)
        mask = mask.to(torch.float32)
        x = image * mask.to(image.dtype)  # (N, C, H, W); blocks take inputs already zero under holes
        image, image_mask = x, mask
        if self.stem is not None:
            x, mask = self.stem(x, mask)  # (N, stem_channels, H, W)
        skips = [(x, mask)]  # skips[d]: features and mask at depth d, (N, C_d, H / 2**d, W / 2**d)
        for down in self.encoder:
            x, mask = down(x, mask)
            skips.append((x, mask))
        x, mask = skips.pop()  # bottleneck, (N, C_L, H / 2**L, W / 2**L)
        for up in self.decoder:
            skip, skip_mask = skips.pop()
            x, mask = up(x, mask, skip, skip_mask)  # one depth up
        if self.head is not None:
            x, mask = self.head((x, image), (mask, image_mask))  # (N, C, H, W)
        if self.residual:  # the classical fill in float32, also under autocast
            with torch.autocast(image.device.type, enabled=False):
                x = x.float() + harmonic_fill(image.float(), image_mask)
        return x, mask

    def _encoder_bns(self) -> list[nn.BatchNorm2d]:
        return [m for m in self.encoder.modules() if isinstance(m, nn.BatchNorm2d)]

    def freeze_encoder_bn(self, frozen: bool = True) -> PConvUNet:
        """Freeze (or release) the encoder's BatchNorm, for the paper's fine-tuning stage.

        Frozen BatchNorm layers use and keep their running statistics (eval mode, also
        after `model.train()`) and their affine parameters get `requires_grad=False`.
        The setting is not saved in `state_dict`: call this again after loading.
        """
        self._encoder_bn_frozen = bool(frozen)
        for bn in self._encoder_bns():
            bn.requires_grad_(not frozen)
        return self.train(self.training)

    def train(self, mode: bool = True) -> PConvUNet:
        super().train(mode)
        if self._encoder_bn_frozen:
            for bn in self._encoder_bns():
                bn.eval()
        return self

    def inpaint(self, image: Tensor, mask: Tensor) -> Tensor:
        """Fill the holes of images of any size; no gradient; model mode restored after.

        Pads H and W up to multiples of 2**layers by reflection of both image and mask
        (reflected known pixels are real pixels, reflected holes stay holes), or with
        holes when the image is too small to reflect, runs in eval mode, crops back.

        Args:
            image: (C, H, W) or (N, C, H, W) float in [0, 1].
            mask: (1, H, W) or (N|1, 1, H, W) matching `image`'s rank; 1 = valid, 0 = hole.

        Returns:
            The composite `mask * image + (1 - mask) * output` with the output clamped
            to [0, 1] (known pixels are returned exactly); same shape, device and dtype
            as `image`.
        """
        if not isinstance(image, Tensor) or image.ndim not in (3, 4) or image.shape[-3] != self.in_channels:
            shape = tuple(image.shape) if isinstance(image, Tensor) else type(image).__name__
            raise ValueError(f"image must be ({self.in_channels}, H, W) or (N, {self.in_channels}, H, W), got {shape}")
        if not image.is_floating_point():
            raise ValueError(f"image must be a float tensor in [0, 1], got dtype {image.dtype}")
        if not isinstance(mask, Tensor) or mask.ndim != image.ndim or mask.shape[-3] != 1:
            shape = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
            want = "(1, H, W)" if image.ndim == 3 else "(N, 1, H, W)"
            raise ValueError(f"mask must be {want} to match image {tuple(image.shape)}, got {shape}")
        single = image.ndim == 3
        img, msk = (image[None], mask[None]) if single else (image, mask)
        if msk.shape[0] not in (1, img.shape[0]) or msk.shape[-2:] != img.shape[-2:]:
            raise ValueError(
                f"mask {tuple(mask.shape)} does not match image {tuple(image.shape)} (same H and W needed)"
            )
        check_binary_mask(msk, "mask")

        param = next(self.parameters())
        h, w = img.shape[-2:]
        ph, pw = -h % self.multiple, -w % self.multiple
        x = img.to(param.device, param.dtype)
        m = msk.to(param.device, torch.float32).expand(x.shape[0], -1, -1, -1)
        if ph or pw:
            if ph < h and pw < w:
                x = F.pad(x, (0, pw, 0, ph), mode="reflect")
                m = F.pad(m, (0, pw, 0, ph), mode="reflect")
            else:  # too small to reflect: the padding is hole
                x, m = F.pad(x, (0, pw, 0, ph)), F.pad(m, (0, pw, 0, ph))
        was_training = self.training
        self.eval()
        try:
            with torch.inference_mode():
                output, _ = self(x, m)
        finally:
            self.train(was_training)
        output = output[..., :h, :w].clamp(0, 1).to(image.device, image.dtype)
        result = torch.where(msk.to(image.device) > 0.5, img, output)  # known pixels exactly
        return result[0] if single else result


class UNet(nn.Module):
    """Segmentation U-Net: (N, in_channels, H, W) -> logits (N, out_channels, H, W).

    Args:
        in_channels: image channels. out_channels: classes (1: binary, use sigmoid).
        features: widths of the levels; the bottleneck has twice the last (the last,
            with `bilinear`). Defaults give the classic ~31.0M-parameter network.
        bilinear: bilinear upsampling instead of transposed convolutions.
    """

    def __init__(
        self,
        in_channels: int = 3,
        out_channels: int = 1,
        features: Sequence[int] = (64, 128, 256, 512),
        bilinear: bool = False,
    ) -> None:
        super().__init__()
        f = list(features)
        if not f:
            raise ValueError("features must name at least one level width, e.g. (64, 128, 256, 512)")
        self.in_channels, self.levels = in_channels, len(f)
        # The constructor arguments: checkpoints record them so a model can be rebuilt.
        self.config = dict(in_channels=in_channels, out_channels=out_channels, features=list(f), bilinear=bilinear)
        bottom = f[-1] if bilinear else 2 * f[-1]
        self.inc = DoubleConv(in_channels, f[0])
        self.downs = nn.ModuleList(Down(a, b) for a, b in zip(f, f[1:] + [bottom]))
        # With bilinear the stage widths step down a level early (parameter-free up keeps channels).
        outs = [f[i - 1] if bilinear and i > 0 else f[i] for i in range(len(f))]
        ins = [bottom] + outs[:0:-1]  # channels arriving from below, deepest first
        self.ups = nn.ModuleList(Up(c_in, f[i], outs[i], bilinear) for c_in, i in zip(ins, reversed(range(len(f)))))
        self.outc = nn.Conv2d(f[0], out_channels, kernel_size=1)

    def forward(self, image: Tensor) -> Tensor:
        """Args: image (N, C, H, W) float, H and W >= 2**len(features). Returns logits (N, K, H, W)."""
        _check_image(image, self.in_channels, "use image[None] for one image")
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
