"""The inpainting networks, wired from the blocks in `pconv.nn.blocks`.

- `PConvUNet`: the inpainting network of Liu et al. 2018 (arXiv:1804.07723, section
  3.2 and appendix table): a U-Net of partial convolutions whose decoder concatenates
  features and masks. `__init__` and `unet` follow the table; what this version adds
  at the entry (checks, values under holes that cannot leak, `normalize`,
  `freeze_encoder_bn`, any-size `inpaint`) is `pconv.nn.inpainter.Inpainter`, its base.
- `PConvUNetWithStem`: not in the paper. A full-resolution partial convolution before
  the paper's network (`stem`) and one after it (`head`), around a `PConvUNet` over the
  stem's features (`body`). The paper's network has a single full-resolution layer, its
  last; small, short-trained networks gain from more: at 64x64 it "gained 0.4 dB (width 8)
  and 0.6-0.7 dB (width 16) in every bin" (benchmarks/RESULTS.md, "Quality", runs S2 and S1
  against R0). The quickstart recipe uses it (`pconv.train.recipes`).

Both take the convolution as a choice, `conv="partial" | "plain" | "gated"` (the paper's is the
default, parameter for parameter): the blocks come from `pconv.nn.conv_variants.make_block` and
`make_up`, so one wiring serves the paper's network, its Fig. 2 e/f baseline with ordinary
convolutions, and gated convolution (Yu et al. 2019, arXiv:1806.03589).

Checkpoints rebuild a model from its class name here and its `config` (the constructor's
arguments); those written before the stem became `PConvUNetWithStem` are translated by
`pconv.nn.legacy.upgrade_model_info`.
"""

from __future__ import annotations

from torch import Tensor, nn

from pconv.nn.conv_variants import make_block, make_up
from pconv.nn.inpainter import Inpainter, Normalize

__all__ = ["PConvUNet", "PConvUNetWithStem"]


class PConvUNet(Inpainter):
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
        normalize: None (paper), or (mean, std) for a network trained on normalised
            images: see `pconv.nn.inpainter.Inpainter`.
        conv: "partial" (paper), "plain" (`nn.Conv2d` in the same places, holes at
            `hole_value`: the paper's Fig. 2 e/f) or "gated" (Yu et al. 2019, the mask an
            input channel); see `pconv.nn.conv_variants`. Plain and gated update no mask: the
            output mask is all ones.
        hole_value: plain and gated: a float in [0, 1] (0.5 = 127.5/255) or "imagenet"
            (the ImageNet mean); unused by partial. Can be changed after training.
        mask_channel: plain only: the mask as an extra input channel (of the first layer
            and of the depth-0 skip that the last layer sees); True is refused for partial
            and gated (their mask path is their own).
    """

    def __init__(
        self,
        in_channels: int = 3,
        layers: int = 7,
        base_channels: int = 64,
        max_channels: int = 512,
        upsampling: str = "nearest",
        normalize: Normalize = None,
        conv: str = "partial",
        hole_value: float | str = 0.5,
        mask_channel: bool = False,
    ) -> None:
        super().__init__(in_channels, layers, normalize, conv, hole_value, mask_channel)
        if upsampling not in ("nearest", "bilinear"):
            raise ValueError(f"upsampling must be 'nearest' (paper) or 'bilinear', got {upsampling!r}")
        # The constructor arguments, as plain values: checkpoints record them so a model can be rebuilt.
        self.config = dict(
            in_channels=in_channels,
            layers=layers,
            base_channels=base_channels,
            max_channels=max_channels,
            upsampling=upsampling,
            normalize=self.normalize,
            conv=conv,
            hole_value=self.hole_value,
            mask_channel=mask_channel,
        )
        self.upsampling = upsampling

        # Appendix table: PConv1..PConv{layers} encode, the same number decode.
        kernels = [7, 5, 5] + [3] * max(layers - 3, 0)
        widths = [min(base_channels * 2**i, max_channels) for i in range(layers)]
        # channels of the skip at each depth: the input at 0, with the mask channel where it is one
        skips = [in_channels + int(self.mask_input)] + widths[:-1]
        self.encoder = nn.ModuleList(
            make_block(conv, skips[i], widths[i], kernels[i], stride=2, bn=i > 0, activation="relu")
            for i in range(layers)
        )
        # decoder[j] is the stage at depth layers-1-j: deepest first, as it runs. The last one
        # outputs the image's channels, with a bias and no BatchNorm or activation.
        outs = [in_channels] + widths[:-1]
        self.decoder = nn.ModuleList(
            make_up(
                conv,
                widths[i],
                skips[i],
                outs[i],
                bn=i > 0,
                activation="leaky_relu" if i > 0 else None,
                upsampling=upsampling,
            )
            for i in reversed(range(layers))
        )

    def unet(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """The paper's U-Net, on an input that is zero (or `hole_value`) under its holes (no checks, no normalisation).

        Args:
            x: (N, in_channels, H, W), zero where `mask` is 0 (partial), `hole_value` there
                (plain, gated); without the mask channel, which is added here where `mask_input`.
            mask: (N|1, 1, H, W) float32, 1 = valid, 0 = hole.

        Returns:
            (N, in_channels, H, W) features and their (N, 1, H, W) mask (all ones for plain, gated).
        """
        x = self.with_mask_channel(x, mask)  # (N, in_channels [+ 1], H, W)
        skips = [(x, mask)]  # skips[d]: features and mask at depth d, (N, C_d, H / 2**d, W / 2**d)
        for down in self.encoder:
            x, mask = down(x, mask)
            skips.append((x, mask))
        x, mask = skips.pop()  # bottleneck, (N, C_L, H / 2**L, W / 2**L)
        for up in self.decoder:
            x, mask = up(x, mask, *skips.pop())  # one depth up, the skip of that depth concatenated
        return x, mask


class PConvUNetWithStem(Inpainter):
    """`PConvUNet` between a full-resolution stem and head (not in the paper; see the module header).

    The stem (3x3 partial conv, ReLU) turns the image into `stem_channels` features, which
    take the image's place as the U-Net's input and depth-0 skip; the head (3x3 partial conv,
    bias, no activation) sees the U-Net's output together with the input image and predicts
    the image. Entry checks, `normalize`, `freeze_encoder_bn` (the U-Net's encoder) and any-size
    `inpaint` are `PConvUNet`'s (`pconv.nn.inpainter.Inpainter`).

    With conv="plain" or "gated" the stem, the U-Net and the head are all of that kind; where
    the input carries the mask as a channel (`mask_input`), so do the stem's input, the head's
    image part and the U-Net's input (the stem's features and the mask), as `PConvUNet`'s does.

    Args:
        in_channels: image channels. stem_channels: width of the stem and of the U-Net's
            input and output. layers, base_channels, max_channels, upsampling: the
            `PConvUNet`'s. normalize: as in `PConvUNet`, applied around the whole network.
        conv, hole_value, mask_channel: as in `PConvUNet`, for the whole network.
    """

    def __init__(
        self,
        in_channels: int = 3,
        stem_channels: int = 16,
        layers: int = 7,
        base_channels: int = 64,
        max_channels: int = 512,
        upsampling: str = "nearest",
        normalize: Normalize = None,
        conv: str = "partial",
        hole_value: float | str = 0.5,
        mask_channel: bool = False,
    ) -> None:
        super().__init__(in_channels, layers, normalize, conv, hole_value, mask_channel)
        if stem_channels < 1:
            raise ValueError(f"stem_channels must be >= 1, got {stem_channels}; for no stem use PConvUNet")
        self.config = dict(
            in_channels=in_channels,
            stem_channels=stem_channels,
            layers=layers,
            base_channels=base_channels,
            max_channels=max_channels,
            upsampling=upsampling,
            normalize=self.normalize,
            conv=conv,
            hole_value=self.hole_value,
            mask_channel=mask_channel,
        )
        # Declared stem, head, body: the parameter order of checkpoints written before this class
        # (stem, head, encoder, decoder), which their saved optimizer state is matched by.
        image_channels = in_channels + self.mask_input  # the image, and the mask where it is an input channel
        self.stem = make_block(conv, image_channels, stem_channels, 3, stride=1, bn=False)
        self.head = make_block(
            conv, stem_channels + image_channels, in_channels, 3, stride=1, bn=False, activation=None
        )
        # The body's own hole_value is unused: its input is the stem's features, never holes to fill.
        self.body = PConvUNet(
            stem_channels, layers, base_channels, max_channels, upsampling, conv=conv, mask_channel=mask_channel
        )

    @property
    def encoder(self) -> nn.ModuleList:
        """The U-Net's encoder blocks (for `freeze_encoder_bn` and `pconv.notebook.model_plots`)."""
        return self.body.encoder

    def unet(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Stem, the paper's U-Net, head, on an input that is zero (or `hole_value`) under its holes.

        Args:
            x: (N, in_channels, H, W) image in the network's space, zero where `mask` is 0
                (partial), `hole_value` there (plain, gated); without the mask channel.
            mask: (N|1, 1, H, W) float32, 1 = valid, 0 = hole.

        Returns:
            (N, in_channels, H, W) prediction in the network's space and its (N, 1, H, W) mask.
        """
        image, image_mask = self.with_mask_channel(x, mask), mask  # (N, in_channels [+ 1], H, W)
        x, mask = self.stem(image, mask)  # (N, stem_channels, H, W)
        if self.conv != "partial":  # no mask update: the U-Net's mask channel is the input's holes
            mask = image_mask
        x, mask = self.body.unet(x, mask)  # (N, stem_channels, H, W)
        return self.head((x, image), (mask, image_mask))  # (N, in_channels, H, W)
