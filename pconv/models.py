"""The two networks of the playground, wired from the blocks in `pconv.parts`.

- `PConvUNet`: the inpainting network of Liu et al. 2018 (arXiv:1804.07723, section
  3.2 and appendix table): a U-Net of partial convolutions whose decoder concatenates
  features and masks. `__init__` and `unet` follow the table. This version adds entry
  checks with actionable messages (shapes, a binary mask, images in [0, 1]), values
  under holes that cannot leak (selected away, NaN and inf included),
  `normalize=(mean, std)` for networks trained on normalised images (converted
  checkpoints), `freeze_encoder_bn` for the paper's fine-tuning stage, and `inpaint`
  for images of any size (reflect-pads to the needed multiple, composites, crops back).
- `PConvUNetPlus`: `PConvUNet` with the extensions that are not in the paper (a
  full-resolution stem and head, a residual over a classical fill), written in
  `pconv.extensions`. Why it is built this way is said there.
- `UNet`: the segmentation U-Net of Ronneberger et al. 2015 (arXiv:1505.04597) in its
  modern form ("same" convs, BatchNorm, transposed-conv or bilinear up); any H, W.

The file runs a little past ~300 lines: the two networks are kept side by side, each
with its entry checks and its any-size `predict`/`inpaint`, and their blocks live apart
(`pconv.parts`), so nothing here is a piece that would read better elsewhere.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .extensions import PConvUNetExtensions
from .inputs import check_image, check_image_and_mask, check_image_and_mask_values, normalize_config, shape_of
from .parts import DoubleConv, Down, PConvBlock, PConvUp, Up

__all__ = ["PConvUNet", "PConvUNetPlus", "UNet"]


class PConvUNet(nn.Module):
    """Partial-convolution U-Net for image inpainting.

    Encoder stage i (i = 0..layers-1): partial conv, kernel 7, 5, 5, 3, 3, ... stride 2,
    base_channels * 2**i channels capped at max_channels, BatchNorm except at i = 0,
    ReLU. Decoder stage i (deepest first): upsample x2, concatenate the skip of the
    same depth (the input image and mask at depth 0), 3x3 partial conv, BatchNorm and
    LeakyReLU(0.2), except the last stage: bias, no BatchNorm, no activation, outputs
    `in_channels`. Defaults give the paper's 256x256 network (~25.8M parameters);
    use layers=8 for 512x512.

    Args:
        in_channels: image channels. layers: encoder depth; H and W must be multiples
            of 2**layers. base_channels, max_channels: stage widths.
        upsampling: "nearest" (paper) or "bilinear" for the decoder features.
        stem_channels, residual: the extensions of `pconv.extensions` (not in the paper);
            setting either builds a `PConvUNetPlus`. 0 and False: the paper's network.
        normalize: None, or (mean, std), each a float or one per channel: the network
            works on `(image - mean) / std` (holes zeroed in that space, as the original
            implementations do) and maps its output back with `output * std + mean`, so a
            network trained on ImageNet-normalised or [-1, 1] images takes and gives [0, 1].
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> PConvUNet:
        # DESIGN.md's one constructor, also the one checkpoints call with `config`: a call that
        # asks for an extension gets the subclass that has it, so this class stays the paper's.
        if cls is PConvUNet:
            given = inspect.signature(PConvUNet.__init__).bind(None, *args, **kwargs).arguments
            if given.get("stem_channels", 0) or given.get("residual", False):
                cls = PConvUNetPlus
        return super().__new__(cls)

    def __init__(
        self,
        in_channels: int = 3,
        layers: int = 7,
        base_channels: int = 64,
        max_channels: int = 512,
        upsampling: str = "nearest",
        stem_channels: int = 0,
        residual: bool = False,
        normalize: tuple[float | Sequence[float], float | Sequence[float]] | None = None,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        if stem_channels < 0:
            raise ValueError(f"stem_channels must be >= 0 (0: the paper's network), got {stem_channels}")
        if upsampling not in ("nearest", "bilinear"):
            raise ValueError(f"upsampling must be 'nearest' (paper) or 'bilinear', got {upsampling!r}")
        normalize = normalize_config(normalize, in_channels)
        # The constructor arguments, as plain values: checkpoints record them so a model can be rebuilt.
        self.config = dict(
            in_channels=in_channels,
            layers=layers,
            base_channels=base_channels,
            max_channels=max_channels,
            upsampling=upsampling,
            stem_channels=stem_channels,
            residual=residual,
            normalize=normalize,
        )
        self.in_channels, self.layers, self.upsampling = in_channels, layers, upsampling
        for name, values in zip(("image_mean", "image_std"), normalize or (None, None)):
            value = None if values is None else torch.tensor(values).view(1, -1, 1, 1)  # (1, C, 1, 1)
            self.register_buffer(name, value, persistent=False)  # derived from config: not in state_dict

        # Appendix table: PConv1..PConv{layers} encode, the same number decode.
        kernels = [7, 5, 5] + [3] * max(layers - 3, 0)
        widths = [min(base_channels * 2**i, max_channels) for i in range(layers)]
        skips = [self.unet_channels] + widths[:-1]  # channels of the skip at each depth (the input at 0)
        self.encoder = nn.ModuleList(
            PConvBlock(skips[i], widths[i], kernels[i], stride=2, bn=i > 0, activation="relu") for i in range(layers)
        )
        # decoder[j] is the stage at depth layers-1-j: deepest first, as it runs. The last one
        # outputs the input's channels, with a bias and no BatchNorm or activation.
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
        self._encoder_bn_frozen = False

    @property
    def unet_channels(self) -> int:
        """Channels of what enters the U-Net (its depth-0 skip) and of what its last layer gives: the image's."""
        return self.in_channels

    @property
    def multiple(self) -> int:
        """H and W of `forward` inputs must be multiples of this (2**layers)."""
        return 2**self.layers

    def forward(self, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Run the network.

        Args:
            image: (N, C, H, W) float in [0, 1]; values under holes are ignored (NaN and inf too).
            mask: (N|1, 1, H, W), 1 = valid, 0 = hole, binary; H, W multiples of 2**layers.

        Returns:
            output: (N, C, H, W), the raw prediction in [0, 1] space (not composited, not clamped).
            output_mask: (N, 1, H, W) float32, 0 only where no valid pixel was reachable.
        """
        check_image_and_mask(image, mask, self.in_channels)
        h, w = image.shape[-2:]
        if h % self.multiple or w % self.multiple:
            raise ValueError(
                f"image height and width must be multiples of 2**layers = {self.multiple} "
                f"(layers={self.layers}), got {h}x{w}; pad or crop to a multiple, "
                "or call model.inpaint(image, mask), which pads and crops back for you"
            )
        mask = mask.to(torch.float32)
        known = mask > 0
        x = torch.where(known, image, 0.0)  # (N, C, H, W); selected, so NaN or inf under a hole stays out
        check_image_and_mask_values(x, mask)
        if self.image_mean is not None:  # the network's space; holes are zero there
            x = torch.where(known, (x - self.image_mean.to(x.dtype)) / self.image_std.to(x.dtype), 0.0)
        output, output_mask = self.unet(x, mask)
        if self.image_mean is not None:  # back to [0, 1] space
            output = output * self.image_std.to(output.dtype) + self.image_mean.to(output.dtype)
        return output, output_mask

    def unet(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """The paper's U-Net, on an input that is zero under its holes.

        Args:
            x: (N, unet_channels, H, W), zero where `mask` is 0.
            mask: (N|1, 1, H, W) float32, 1 = valid, 0 = hole.

        Returns:
            (N, unet_channels, H, W) features and their (N, 1, H, W) mask.
        """
        skips = [(x, mask)]  # skips[d]: features and mask at depth d, (N, C_d, H / 2**d, W / 2**d)
        for down in self.encoder:
            x, mask = down(x, mask)
            skips.append((x, mask))
        x, mask = skips.pop()  # bottleneck, (N, C_L, H / 2**L, W / 2**L)
        for up in self.decoder:
            x, mask = up(x, mask, *skips.pop())  # one depth up, the skip of that depth concatenated
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

    def predict(self, image: Tensor, mask: Tensor) -> Tensor:
        """The network's output for images of any size, before compositing; no gradient.

        Pads H and W up to multiples of 2**layers by reflection of both image and mask
        (reflected known pixels are real pixels, reflected holes stay holes), or with
        holes when the image is too small to reflect, runs in eval mode (the model's mode
        is restored after), crops back.

        Args:
            image: (C, H, W) or (N, C, H, W) float in [0, 1]; values under holes are ignored.
            mask: (1, H, W) or (N|1, 1, H, W) matching `image`'s rank; 1 = valid, 0 = hole.

        Returns:
            The output clamped to [0, 1], known pixels included; same shape, device and
            dtype as `image`.
        """
        single = isinstance(image, Tensor) and image.ndim == 3
        if single:
            if not isinstance(mask, Tensor) or mask.ndim != 3:
                raise ValueError(f"mask must be (1, H, W) to match image {tuple(image.shape)}, got {shape_of(mask)}")
            image, mask = image[None], mask[None]
        check_image_and_mask(image, mask, self.in_channels)  # forward checks the values, on the padded batch

        param = next(self.parameters())
        h, w = image.shape[-2:]
        ph, pw = -h % self.multiple, -w % self.multiple
        x = image.to(param.device, param.dtype)
        m = mask.to(param.device, torch.float32).expand(x.shape[0], -1, -1, -1)
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
        return output[0] if single else output

    def inpaint(self, image: Tensor, mask: Tensor) -> Tensor:
        """Fill the holes of images of any size: the composite of `predict`'s output.

        Args:
            image: (C, H, W) or (N, C, H, W) float in [0, 1]; values under holes are ignored.
            mask: (1, H, W) or (N|1, 1, H, W) matching `image`'s rank; 1 = valid, 0 = hole.

        Returns:
            `mask * image + (1 - mask) * output` with the output clamped to [0, 1] (known
            pixels are returned exactly); same shape, device and dtype as `image`.
        """
        output = self.predict(image, mask)
        return torch.where(mask.to(image.device) > 0, image, output)  # known pixels exactly


# `inspect.signature(PConvUNet)` would otherwise show `__new__`'s (*args, **kwargs); the CLI
# and the training panel read their defaults from the constructor's signature.
PConvUNet.__signature__ = inspect.signature(PConvUNet.__init__).replace(
    parameters=list(inspect.signature(PConvUNet.__init__).parameters.values())[1:]
)


class PConvUNetPlus(PConvUNetExtensions, PConvUNet):
    """`PConvUNet` with a full-resolution stem and head and/or a residual over a classical fill.

    Not in the paper; `PConvUNet(..., stem_channels=16)` or `PConvUNet(..., residual=True)`
    builds one. The arguments and the extensions are described in `pconv.extensions`.
    """


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
