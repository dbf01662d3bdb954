"""Partial convolution (Liu et al. 2018, "Image Inpainting for Irregular Holes Using
Partial Convolutions", arXiv:1804.07723, section 3.1, eq. 1 and 2).

    out      = W^T (X * M) * K / S + b   where S > 0, else 0
    new_mask = 1                         where S > 0, else 0

with S the number of valid inputs under the window (zero padding counts as hole)
and K the window size. What this version changes from NVIDIA/partialconv:

- Stateless: no buffers and no cached ratio, so a layer can be called with and
  without a mask, at any size, in any order. `state_dict` holds weight and bias.
- One cheap mask path: a multi-channel mask, or a list of concatenated parts, is
  first collapsed to a one-channel map of "valid inputs per pixel"; S is then one
  1-channel window sum instead of a C_out x C_in convolution of C-channel masks.
- Parts: `x` and `mask` may be sequences to concatenate (U-Net skips, paper
  section 3.2). Weighting each part's mask by its channel count gives exactly the
  multi-channel formulation of the concatenated mask, without building it.
- The mask path runs in fp32 outside autocast and needs no epsilon (S is rounded,
  clamped to 1 and masked), so fp16/bf16 give no inf or NaN. The mask has no grad.
- Values under holes are selected away (`torch.where`), not multiplied by 0, so NaN
  or inf under a hole cannot leak into the output (0 * NaN is NaN).
- Masks must be binary: one cheap check per call (a 1-channel comparison and one
  host read), skipped with `check_mask=False` by callers that pass masks a partial
  convolution returned, as the U-Net's blocks do.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from pconv.utils import check_binary_mask

__all__ = ["PartialConv2d", "partial_conv2d"]

IntPair = int | tuple[int, int]
Parts = Tensor | Sequence[Tensor]


def _as_parts(value: Parts, name: str) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Tensor) for v in value):
        return list(value)
    raise ValueError(f"{name} must be a tensor or a non-empty list/tuple of tensors, got {type(value).__name__}")


def _count_map(masks: list[Tensor], channels: list[int]) -> tuple[Tensor, int]:
    """Valid inputs per pixel as a (N, 1, H, W) fp32 map, and how many channels that counts out of.

    A one-channel mask of a part with C_i channels stands for that mask repeated C_i
    times, so it contributes C_i * m_i; a multi-channel mask contributes its channel sum.
    """
    if len(masks) == 1:  # the common single-tensor case: no rescaling needed
        m = masks[0].float()
        return (m, 1) if m.shape[1] == 1 else (m.sum(1, keepdim=True), m.shape[1])
    count = None
    for m, c in zip(masks, channels):
        m = m.float()
        part = m * c if m.shape[1] == 1 else m.sum(1, keepdim=True)
        count = part if count is None else count + part
    return count, sum(channels)


def _check_binary(masks: list[Tensor]) -> None:
    """Raise ValueError unless every mask holds only 0 and 1: one host read (one sync on a GPU) for all parts."""
    ok = [((m == 0) | (m == 1)).all() for m in masks]
    if not bool(ok[0] if len(ok) == 1 else torch.stack(ok).all()):
        for i, m in enumerate(masks):  # name the part that is not binary
            check_binary_mask(m, f"mask part {i}" if len(masks) > 1 else "mask")


def _is_zero_padding(padding: str | IntPair) -> bool:
    if isinstance(padding, str):
        return padding == "valid"
    return all(p == 0 for p in ((padding, padding) if isinstance(padding, int) else padding))


def _masked_conv(
    x: Tensor,
    count: Tensor | None,
    channels: int,
    weight: Tensor,
    bias: Tensor | None,
    stride: IntPair,
    padding: str | IntPair,
    dilation: IntPair,
    groups: int,
) -> tuple[Tensor, Tensor]:
    """The partial convolution of an input that is already zero under holes."""
    n, _, h, w = x.shape
    if count is None and _is_zero_padding(padding):
        # No mask and no padding: every window is full, a plain convolution.
        out = F.conv2d(x, weight, bias, stride, padding, dilation, groups)
        return out, out.new_ones(n, 1, *out.shape[-2:], dtype=torch.float32)

    kh, kw = weight.shape[-2:]
    with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
        if count is None:  # no mask: only the zero padding is hole
            count = torch.ones(1, 1, h, w, device=x.device)
        ones = count.new_ones(1, 1, kh, kw)
        # Round: the sum of integers is an integer, and rounding undoes the error of
        # TF32 / Winograd / FFT convolution algorithms, so S == 0 is decided exactly.
        s = F.conv2d(count, ones, None, stride, padding, dilation)  # S: (N|1, 1, H', W')
        s = s.round_()
        valid = s > 0
        new_mask = valid.float()
        ratio = (kh * kw * channels) / s.clamp_(min=1.0)  # K / S, finite everywhere
        ratio.mul_(new_mask)  # 0 where no valid input, which also zeroes those outputs
        if new_mask.shape[0] != n:  # a (1, 1, H, W) mask broadcast over the batch
            new_mask = new_mask.expand(n, -1, -1, -1).contiguous()

    out = F.conv2d(x, weight, None, stride, padding, dilation, groups)  # (N, C_out, H', W')
    # In place: conv2d does not need its output for backward, and mul_ only saves
    # `ratio` (N, 1, H', W'), so the mask path adds no full-size activation.
    out = out.mul_(ratio)
    if bias is not None:
        out = out.addcmul_(bias.view(1, -1, 1, 1), new_mask)  # bias only where S > 0
    return out, new_mask


def partial_conv2d(
    x: Parts,
    mask: Parts | None,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: IntPair = 1,
    padding: str | IntPair = 0,
    dilation: IntPair = 1,
    groups: int = 1,
    *,
    premasked: bool = False,
    check_mask: bool = True,
) -> tuple[Tensor, Tensor]:
    """Partial convolution, functional form (see `PartialConv2d`).

    Args:
        x: (N, C_in, H, W) float, or a list of parts (N, C_i, H, W) with sum C_i = C_in,
            concatenated along channels in order.
        mask: 1 = valid, 0 = hole, binary. One tensor (N|1, 1, H, W) or (N|1, C_in, H, W),
            or one mask per part of `x`, each (N|1, 1, H, W) or (N|1, C_i, H, W).
            None: all valid (zero padding still counts as hole).
        weight: (C_out, C_in / groups, kh, kw).
        bias: (C_out,) or None.
        stride, padding, dilation, groups: as in `torch.nn.functional.conv2d`.
        premasked: promise that `x` is already zero under holes (as the outputs of
            a partial convolution are); skips selecting `x` by the mask.
        check_mask: check that every mask value is 0 or 1 (ValueError otherwise). False:
            the caller vouches for it (a mask a partial convolution returned is binary).

    Returns:
        out: (N, C_out, H', W') in the dtype of the convolution (autocast applies).
        new_mask: (N, 1, H', W') float32, 1 where the window saw any valid input.
    """
    xs = _as_parts(x, "x")
    for i, part in enumerate(xs):
        if part.ndim != 4 or part.shape[0] != xs[0].shape[0] or part.shape[-2:] != xs[0].shape[-2:]:
            raise ValueError(
                f"x parts must be (N, C_i, H, W) with the same N, H and W; part {i} has shape "
                f"{tuple(part.shape)}, part 0 {tuple(xs[0].shape)}"
            )
    channels = [p.shape[1] for p in xs]
    if sum(channels) != weight.shape[1] * groups:
        raise ValueError(f"x has {sum(channels)} channels in all but the weight expects {weight.shape[1] * groups}")

    count = None
    if mask is not None:
        masks = _as_parts(mask, "mask")
        if len(masks) != len(xs):
            raise ValueError(f"mask has {len(masks)} parts but x has {len(xs)}; give one mask per part of x")
        n, _, h, w = xs[0].shape
        for i, (m, c) in enumerate(zip(masks, channels)):
            if m.ndim != 4 or m.shape[0] not in (1, n) or m.shape[1] not in (1, c) or m.shape[-2:] != (h, w):
                raise ValueError(
                    f"mask{f' part {i}' if len(masks) > 1 else ''} must be (N or 1, 1 or {c}, {h}, {w}) "
                    f"to match x{f' part {i}' if len(masks) > 1 else ''} of shape {tuple(xs[i].shape)}; "
                    f"got {tuple(m.shape)}"
                )
        masks = [m.detach() for m in masks]
        if check_mask:
            _check_binary(masks)
        count, total = _count_map(masks, channels)
        if not premasked:  # select, not multiply: 0 * NaN would carry a NaN under a hole into the window sum
            xs = [torch.where(m > 0, p, 0.0) for p, m in zip(xs, masks)]
    else:
        total = 1
    xin = xs[0] if len(xs) == 1 else torch.cat(xs, dim=1)  # (N, C_in, H, W)
    return _masked_conv(xin, count, total, weight, bias, stride, padding, dilation, groups)


class PartialConv2d(nn.Conv2d):
    """A `nn.Conv2d` that renormalises over the valid inputs under each window.

    `out = conv(x * mask) * K / S + bias` where S > 0 and 0 where S = 0, with S the
    valid-input count under the window (over channels too for a multi-channel mask;
    zero padding is hole) and K its largest value. A one-channel mask counts once per
    input channel, which equals the multi-channel formula with the mask repeated.
    With groups > 1, S and K still run over all input channels, as in the paper.

    Parts extension (for U-Net skips): `layer((x_up, x_skip), (m_up, m_skip))` equals
    `layer(cat(x_up, x_skip), cat(m_up repeated C_up times, m_skip repeated C_skip
    times))` with `multi_channel=True`, exactly, without building those masks.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups,
            bias: as in `nn.Conv2d` (zero padding only).
        multi_channel: also accept masks with one channel per input channel.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: str | IntPair = 0,
        dilation: IntPair = 1,
        groups: int = 1,
        bias: bool = True,
        multi_channel: bool = False,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding,
            dilation,
            groups,
            bias,
        )
        self.multi_channel = multi_channel

    def forward(
        self, x: Parts, mask: Parts | None = None, *, premasked: bool = False, check_mask: bool = True
    ) -> tuple[Tensor, Tensor]:
        """Apply the partial convolution.

        Args:
            x: (N, C_in, H, W) float, or a list of parts to concatenate along channels.
            mask: (N|1, 1, H, W), 1 = valid, 0 = hole (binary); with `multi_channel`
                also (N|1, C_in, H, W). A list of per-part masks when `x` is a list.
                None: all valid.
            premasked: `x` is already zero under holes; skip selecting it by the mask.
            check_mask: False skips the binary-mask check (for masks a partial
                convolution returned).

        Returns:
            out: (N, C_out, H', W'); new_mask: (N, 1, H', W') float32 in {0, 1}.
        """
        if mask is not None and not self.multi_channel:
            for m in [mask] if isinstance(mask, Tensor) else mask:
                if isinstance(m, Tensor) and m.ndim == 4 and m.shape[1] != 1:
                    raise ValueError(
                        f"mask has {m.shape[1]} channels but this PartialConv2d has multi_channel=False; "
                        "pass a (N, 1, H, W) mask or build the layer with multi_channel=True"
                    )
        return partial_conv2d(
            x,
            mask,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            self.groups,
            premasked=premasked,
            check_mask=check_mask,
        )

    def extra_repr(self) -> str:
        return super().extra_repr() + (", multi_channel=True" if self.multi_channel else "")
