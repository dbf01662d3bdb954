"""Two extensions of the partial-convolution U-Net that are not in the paper (Liu et al.
2018, arXiv:1804.07723), kept out of `PConvUNet`'s body so that it reads like the paper.

- Stem and head, `stem_channels > 0`: two full-resolution 3x3 partial convolutions
  around the paper's U-Net. The stem (ReLU) turns the image into `stem_channels`
  features that take the image's place as the U-Net's input and depth-0 skip; the
  head sees the U-Net's output together with the input image and predicts the image.
  The paper's network has one layer at full resolution, its last; small, short-trained
  networks gain most from more (benchmarks/RESULTS.md, "Quality": +0.4 to +0.7 dB at 64x64).
- Residual, `residual=True`: the output is added to a classical fill of the holes,
  `pconv.baselines.harmonic_fill`, and the last layer starts at zero, so the untrained
  model is that fill and training learns a correction to it. On a few CPU minutes of
  training, a network that has to learn smooth interpolation from scratch is still worse
  at it than the fill (benchmarks/RESULTS.md, "Quality").

How they attach, and why. `PConvUNetExtensions` is a mixin; the class is
`pconv.models.PConvUNetPlus(PConvUNetExtensions, PConvUNet)`, and `PConvUNet(...)`
returns one whenever `stem_channels` or `residual` is set (`PConvUNet.__new__`):
- DESIGN.md has one constructor, `PConvUNet(..., stem_channels, residual, normalize)`,
  and checkpoints rebuild every model with `PConvUNet(**config)`, so the paper's class
  must be able to hand out the extended one; `isinstance(model, PConvUNet)` stays true.
- A subclass overrides two small hooks of the paper's class (`unet_channels`, `unet`),
  so neither the paper's `__init__` nor its `forward` mentions an extension.
- A mixin rather than a subclass defined here: the extended class is declared in
  `pconv.models`, where `PConvUNet.__new__` and checkpoints (which look classes up by
  name in `pconv.models`) find it, and this module imports nothing from `pconv.models`:
  no import cycle.
- State dicts are unchanged (`stem.conv.weight`, `head.conv.weight`, `encoder.0...`),
  and so is the parameter order (stem, head, encoder, decoder), which saved optimizer
  state is matched by.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .baselines import harmonic_fill
from .parts import PConvBlock

__all__ = ["PConvUNetExtensions"]


class PConvUNetExtensions:
    """The stem/head and residual extensions, for `pconv.models.PConvUNetPlus` (see the module header).

    Args: those of `PConvUNet`, passed on to it; two are used here as well:
        stem_channels: width of the full-resolution stem and head; 0: none.
        residual: predict a correction to `harmonic_fill` of the (normalised) input.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The paper's network, built over `unet_channels` (the stem's width when there is a stem).
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        in_channels, stem_channels, residual = (self.config[k] for k in ("in_channels", "stem_channels", "residual"))
        encoder, decoder = self.encoder, self.decoder
        del self.encoder, self.decoder  # registered again after the stem and head: the earlier parameter order
        self.stem = PConvBlock(in_channels, stem_channels, 3, stride=1, bn=False) if stem_channels else None
        self.head = (
            PConvBlock(stem_channels + in_channels, in_channels, 3, stride=1, bn=False, activation=None)
            if stem_channels
            else None
        )
        self.encoder, self.decoder = encoder, decoder
        self.residual = bool(residual)
        if residual:  # start as the classical fill, so the network only ever learns a correction to it
            last = (self.head if self.head is not None else self.decoder[-1].block).conv
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    @property
    def unet_channels(self) -> int:
        """Channels entering the U-Net: the stem's features, or the image when there is no stem."""
        return self.config["stem_channels"] or self.in_channels

    def unet(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Stem, the paper's U-Net, head, plus the fill.

        Args:
            x: (N, C, H, W) image in the network's space, zero where `mask` is 0.
            mask: (N|1, 1, H, W) float32, 1 = valid, 0 = hole.

        Returns:
            (N, C, H, W) prediction in the network's space (float32 with `residual`) and
            its (N, 1, H, W) mask.
        """
        image, image_mask = x, mask
        if self.stem is not None:
            x, mask = self.stem(x, mask)  # (N, stem_channels, H, W)
        x, mask = super().unet(x, mask)  # type: ignore[misc]
        if self.head is not None:
            x, mask = self.head((x, image), (mask, image_mask))  # (N, C, H, W)
        if self.residual:  # the classical fill in float32, also under autocast
            with torch.autocast(image.device.type, enabled=False):
                x = x.float() + harmonic_fill(image.float(), image_mask)
        return x, mask
