"""The entry of an inpainting network, shared by `pconv.nn.pconv_unet.PConvUNet` and `PConvUNetWithStem`.

`Inpainter` is what both networks do around their layers, written once: entry checks with
actionable messages (shapes, a binary mask, images in [0, 1]; `pconv.nn.input_checks`), values under
holes that cannot leak (selected away, NaN and inf included), `normalize=(mean, std)` for
networks trained on normalised images (converted checkpoints), `freeze_encoder_bn` for the
paper's fine-tuning stage (Liu et al. 2018, arXiv:1804.07723, Sec. 5.1), and `predict` /
`inpaint` for images of any size (reflect-pads to the needed multiple, crops back).

The convolution is a choice (`conv`, `pconv.nn.conv_variants`): for "partial" (the paper) the
input is zero under its holes, and what the holes held never reaches the layers; for "plain" and
"gated" the holes are set to `hole_value` in [0, 1] image space, before `normalize` (the paper's
Fig. 2 e/f), and `hole_value` may be changed after training (`model.hole_value = 0.0`).

A subclass calls `Inpainter.__init__`, builds an `encoder` (a list of blocks, whose BatchNorm
`freeze_encoder_bn` freezes) and defines `unet(x, mask)`: the layers themselves, on an input
that is already checked, normalised and zero (or `hole_value`) under its holes; it adds the mask
as an input channel where `mask_input` says so (`with_mask_channel`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pconv.nn.compositing import composite
from pconv.nn.conv_variants import check_conv, check_hole_value, hole_fill_values
from pconv.nn.input_checks import check_image_and_mask, check_image_and_mask_values, normalize_config, shape_of
from pconv.utils import eval_mode

__all__ = ["Inpainter"]

Normalize = tuple[float | Sequence[float], float | Sequence[float]] | None


class Inpainter(nn.Module):
    """Base of the inpainting networks: checks, normalisation, any-size `predict` and `inpaint`.

    Args:
        in_channels: image channels.
        layers: encoder depth; `forward` needs H and W to be multiples of 2**layers.
        normalize: None, or (mean, std), each a float or one per channel: the network works on
            `(image - mean) / std` (holes zeroed in that space, as the original implementations
            do) and maps its output back with `output * std + mean`, so a network trained on
            ImageNet-normalised or [-1, 1] images takes and gives [0, 1]. Kept as plain lists in
            `self.normalize`, for the subclass's `config`.
        conv: "partial" (the paper), "plain" or "gated" (`pconv.nn.conv_variants`).
        hole_value: for "plain" and "gated", what the holes hold when the network sees them: a
            float in [0, 1] image space (0.5 = 127.5/255) or "imagenet" (the ImageNet mean per
            channel). Unused by "partial", whose holes are zero. A settable attribute.
        mask_channel: "plain" only: the mask as an extra input channel (False: the network sees
            only the filled image). "gated" always has it; True with "partial" or "gated" is refused.
    """

    encoder: nn.ModuleList

    def __init__(
        self,
        in_channels: int,
        layers: int,
        normalize: Normalize,
        conv: str = "partial",
        hole_value: float | str = 0.5,
        mask_channel: bool = False,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        check_conv(conv, mask_channel)
        self.in_channels, self.layers = in_channels, layers
        self.conv, self.mask_channel = conv, mask_channel
        self.normalize = normalize_config(normalize, in_channels)
        for name, values in zip(("image_mean", "image_std"), self.normalize or (None, None)):
            value = None if values is None else torch.tensor(values).view(1, -1, 1, 1)  # (1, C, 1, 1)
            self.register_buffer(name, value, persistent=False)  # derived from config: not in state_dict
        # What plain and gated layers see under the holes, in [0, 1] space; derived from hole_value.
        self.register_buffer("hole_fill", None, persistent=False)
        self.hole_value = hole_value
        self._encoder_bn_frozen = False

    @property
    def hole_value(self) -> float | str:
        """What "plain" and "gated" see under the holes: a float in [0, 1] or "imagenet"; settable."""
        return self._hole_value

    @hole_value.setter
    def hole_value(self, value: float | str) -> None:
        self._hole_value = check_hole_value(value, self.in_channels)
        if self.conv != "partial":
            old = self.hole_fill
            fill = torch.tensor(hole_fill_values(self._hole_value, self.in_channels)).view(1, -1, 1, 1)  # (1, C, 1, 1)
            self.hole_fill = fill if old is None else fill.to(old.device, old.dtype)
        config = getattr(self, "config", None)
        if isinstance(config, dict):  # keep the recorded arguments in step: checkpoints rebuild from them
            config["hole_value"] = self._hole_value

    @property
    def mask_input(self) -> bool:
        """Whether the U-Net's input carries the mask as an extra channel: "gated", or "plain" with mask_channel."""
        return self.conv == "gated" or self.mask_channel

    def with_mask_channel(self, x: Tensor, mask: Tensor) -> Tensor:
        """`x` (N, C, H, W) with the mask (N|1, 1, H, W) appended as a channel where `mask_input`, else `x`."""
        if not self.mask_input:
            return x
        return torch.cat([x, mask.to(x.dtype).expand(x.shape[0], -1, -1, -1)], dim=1)  # (N, C + 1, H, W)

    @property
    def multiple(self) -> int:
        """H and W of `forward` inputs must be multiples of this (2**layers)."""
        return 2**self.layers

    def unet(self, x: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """The network's layers on `x` (N, in_channels, H, W), zero (partial) or `hole_value` (plain,
        gated) where `mask` (N|1, 1, H, W) is 0."""
        raise NotImplementedError

    def forward(self, image: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        """Run the network.

        Args:
            image: (N, C, H, W) float in [0, 1]; values under holes are ignored (NaN and inf too).
            mask: (N|1, 1, H, W), 1 = valid, 0 = hole, binary; H, W multiples of 2**layers.

        Returns:
            output: (N, C, H, W), the raw prediction in [0, 1] space (not composited, not clamped).
            output_mask: (N, 1, H, W) float32, 0 only where no valid pixel was reachable (all ones
                for "plain" and "gated", which update no mask).
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
        if self.hole_fill is not None:  # plain, gated: the holes at hole_value, in [0, 1] space
            x = torch.where(known, x, self.hole_fill.to(x.dtype))
            if self.image_mean is not None:  # then the network's space, holes included
                x = (x - self.image_mean.to(x.dtype)) / self.image_std.to(x.dtype)
        elif self.image_mean is not None:  # the network's space; holes are zero there
            x = torch.where(known, (x - self.image_mean.to(x.dtype)) / self.image_std.to(x.dtype), 0.0)
        output, output_mask = self.unet(x, mask)
        if self.image_mean is not None:  # back to [0, 1] space
            output = output * self.image_std.to(output.dtype) + self.image_mean.to(output.dtype)
        return output, output_mask

    def _encoder_bns(self) -> list[nn.BatchNorm2d]:
        return [m for m in self.encoder.modules() if isinstance(m, nn.BatchNorm2d)]

    def freeze_encoder_bn(self, frozen: bool = True) -> Inpainter:
        """Freeze (or release) the encoder's BatchNorm, for the paper's fine-tuning stage.

        Frozen BatchNorm layers use and keep their running statistics (eval mode, also
        after `model.train()`) and their affine parameters get `requires_grad=False`.
        The setting is not saved in `state_dict`: call this again after loading.
        """
        self._encoder_bn_frozen = bool(frozen)
        for bn in self._encoder_bns():
            bn.requires_grad_(not frozen)
        return self.train(self.training)

    def train(self, mode: bool = True) -> Inpainter:
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
        with eval_mode(self), torch.inference_mode():
            output, _ = self(x, m)
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
        return composite(image, mask.to(image.device), output)  # known pixels exactly
