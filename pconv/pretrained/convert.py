"""Public PConv checkpoints as `PConvUNet`s, converted exactly (Liu et al. 2018, arXiv:1804.07723).

Three state-dict layouts hold the paper's U-Net (encoder kernels 7, 5, 5, 3, ..., widths
64, 128, 256, 512, 512, ...; ReLU down, nearest upsampling, skips concatenated as
(upsampled, skip), BatchNorm then LeakyReLU(0.2) up; the last layer has a bias and
nothing after it). Where they differ, and what the conversion does about it:

- "naoto" (naoto0804/pytorch-inpainting-with-partial-conv, `net.py`): `PartialConv`
  computes `W^T (X * M) / sum(M) + b` with no window-size factor, M a mask with one
  channel per input channel (3 identical ones for the image, C_out identical ones after
  each layer). pconv's layer computes `W'^T (X * M) * K / S + b` with K = C_in*kh*kw and
  S the valid count over window and channels; a one-channel mask counted once per channel
  gives S = sum(M), so W' = W / K. Only `dec_1` has a bias (`conv_bias=True`); in the
  older `conv2d`/`mask2d` version of `net.py` every layer has one, and a bias followed by
  BatchNorm is folded into its running mean (exact in eval mode). Images are RGB (PIL
  `convert('RGB')`, `ToTensor`, `places2.py`) normalised with ImageNet's mean and std
  (`opt.py`); outputs are in that space: `normalize=(IMAGENET_MEAN, IMAGENET_STD)`.
- "mmagic" (open-mmlab/mmagic, formerly mmediting: `PartialConv2d`, `PConvEncoder`,
  `PConvDecoder`, `MaskConvModule`): the paper's formula, `K / (S + 1e-8)` (a relative
  difference of at most 1e-8 per layer from pconv's K / S, for binary masks), so the
  weights carry over unscaled. `MaskConvModule` has a bias only where it has no norm
  (`enc1`, `dec1`). Images are read by `LoadImageFromFile` (channel_order 'bgr' by
  default; the PConv configs leave it, and neither their `Normalize(to_rgb=False)` nor
  the later `DataPreprocessor` converts), so the networks saw BGR scaled to [-1, 1]:
  the weights that touch image channels are permuted to RGB (the first layer's inputs,
  the last layer's image-skip inputs, its outputs and bias) and `normalize=(0.5, 0.5)`.
  Masks there are 1 = hole and inverted before the network, as pconv's already are.
- "pconv": this package's own `PConvUNet.state_dict()`, loaded as is.

Values under holes differ between the implementations (they leave BatchNorm's output
there; pconv zeroes it), but every consumer multiplies its input by its mask first, so
outputs agree everywhere. Tested against plain float64 references of both formulas in
tests/pretrained/test_convert.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from pconv.nn import PConvUNet

__all__ = ["SOURCES", "IMAGENET_MEAN", "IMAGENET_STD", "depth", "detect_source", "from_state_dict", "state_dict_of"]

SOURCES = ("naoto", "mmagic", "pconv")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # naoto0804's opt.py, RGB order
IMAGENET_STD = (0.229, 0.224, 0.225)
_BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
_BGR = [2, 1, 0]  # BGR <-> RGB, its own inverse

# Per source: the key of encoder layer i's convolution weight, the regex that finds it,
# and the decoder's; `{}` is the layer's number in the source (1-based for both).
_LAYOUT = {
    "naoto": dict(enc="enc_{}.", dec="dec_{}.", probe=re.compile(r"^enc_(\d+)\.conv\.(input_conv|conv2d)\.weight$")),
    "mmagic": dict(enc="encoder.enc{}.", dec="decoder.dec{}.", probe=re.compile(r"^encoder\.enc(\d+)\.conv\.weight$")),
    "pconv": dict(enc="encoder.{}.", dec="decoder.{}.block.", probe=re.compile(r"^encoder\.(\d+)\.conv\.weight$")),
}


def _few(keys: Any, n: int = 5) -> str:
    keys = list(keys)
    return ", ".join(keys[:n]) + (f", ... ({len(keys)} keys)" if len(keys) > n else "") if keys else "no keys"


def state_dict_of(obj: Any) -> dict[str, Tensor]:
    """The tensors of a state dict, unwrapped from the checkpoint dicts the sources save.

    naoto0804 saves {"n_iter", "model", "optimizer"}, mmagic {"meta", "state_dict"} (keys
    "generator.*" beside the loss networks' own), pconv {"step", "model", "config", ...}.
    Prefixes are normalised: a DataParallel "module." is dropped, and mmagic's "generator."
    keys are kept (without the prefix) and every other key dropped.

    Raises:
        ValueError: `obj` is no mapping of names to tensors, nor one of those checkpoints.
    """
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        keys = _few(obj) if isinstance(obj, Mapping) else type(obj).__name__
        raise ValueError(f"expected a state dict (names to tensors) or a checkpoint holding one; found {keys}")
    sd = {str(k).removeprefix("module."): v for k, v in obj.items()}
    if any(k.startswith("generator.") for k in sd):  # mmagic: the inpaintor's generator, not its loss VGG
        sd = {k.removeprefix("generator."): v for k, v in sd.items() if k.startswith("generator.")}
    return sd


def detect_source(state_dict: Mapping[str, Tensor]) -> str:
    """The layout of a state dict ("naoto", "mmagic" or "pconv") from its key names.

    Raises:
        ValueError: no known layout; the message lists a few keys and the layouts known.
    """
    found = [s for s, layout in _LAYOUT.items() if any(layout["probe"].match(k) for k in state_dict)]
    if len(found) != 1:
        raise ValueError(
            f"the state dict is in no layout pconv knows (found keys: {_few(state_dict)}); known layouts: "
            "naoto (enc_1.conv.input_conv.weight, ...: naoto0804/pytorch-inpainting-with-partial-conv), "
            "mmagic ([generator.]encoder.enc1.conv.weight, ...: open-mmlab/mmagic), "
            "pconv (encoder.0.conv.weight, ...: pconv's PConvUNet)"
        )
    return found[0]


def depth(sd: Mapping[str, Tensor], source: str) -> int:
    """The number of encoder layers (`layers`) of a state dict in `source`'s layout.

    Raises:
        ValueError: the encoder layers are not numbered consecutively.
    """
    numbers = sorted(int(m.group(1)) for k in sd if (m := _LAYOUT[source]["probe"].match(k)))
    first = 0 if source == "pconv" else 1
    if numbers != list(range(first, first + len(numbers))):
        raise ValueError(
            f"the {source} state dict's encoder layers are not numbered {first}, {first + 1}, ...: {numbers}"
        )
    return len(numbers)


def _scaled(weight: Tensor, source: str) -> Tensor:
    """pconv's weight for a source layer's weight: W / K for naoto0804's renormalisation by sum(M)."""
    if source == "naoto":
        return weight / (weight.shape[1] * weight.shape[2] * weight.shape[3])  # K = C_in * kh * kw
    return weight.clone()


def _convert(sd: dict[str, Tensor], source: str, layers: int) -> tuple[dict[str, Tensor], set[str]]:
    """pconv's state dict for a naoto or mmagic one, and the source keys it used."""
    if source == "naoto":  # the released net.py, or its older version with a bias in every layer
        conv = "conv.conv2d." if "enc_1.conv.conv2d.weight" in sd else "conv.input_conv."
        fixed = {"conv.conv2d.": ["conv.mask2d.weight", "conv.mask2d.bias"]}.get(conv, ["conv.mask_conv.weight"])
    else:
        conv, fixed = "conv.", ["conv.weight_mask_updater"]
    used: set[str] = set()
    out: dict[str, Tensor] = {}

    def take(key: str) -> Tensor:
        if key not in sd:
            raise ValueError(f"the {source} state dict has no {key!r} (a layers={layers} network needs it)")
        used.add(key)
        return sd[key]

    for i in range(layers):  # depth i: encoder layer i + 1 and decoder layer i + 1 of the source
        enc = (_LAYOUT[source]["enc"].format(i + 1), f"encoder.{i}.", False)
        dec = (_LAYOUT[source]["dec"].format(i + 1), f"decoder.{layers - 1 - i}.block.", True)
        for src, dst, last in (enc, dec):
            weight = take(src + conv + "weight")
            for key in fixed:  # the source layer's fixed mask convolution: all ones (and a zero bias)
                is_bias = key.endswith("bias")
                m = take(src + key)
                if m.shape != ((weight.shape[0],) if is_bias else weight.shape) or not bool((m == 1 - is_bias).all()):
                    raise ValueError(f"{src + key} is not the all-ones mask kernel of {source}'s partial convolution")
            w = _scaled(weight, source)
            bias = sd.get(src + conv + "bias")
            if bias is not None:
                used.add(src + conv + "bias")
            if source == "mmagic" and i == 0:  # BGR -> RGB where the image goes in and where it comes out
                if last:  # inputs: (upsampled features, image skip); outputs: the image
                    w = torch.cat([w[:, :-3], w[:, -3:][:, _BGR]], dim=1)[_BGR]
                    bias = bias[_BGR] if bias is not None else None
                else:
                    w = w[:, _BGR]
            out[dst + "conv.weight"] = w
            if i == 0:  # pconv's first and last layers: a bias, no BatchNorm
                out[dst + "conv.bias"] = bias.clone() if bias is not None else w.new_zeros(w.shape[0])
                continue
            for name in _BN:
                key = src + "bn." + name
                if name == "num_batches_tracked" and key not in sd:  # PyTorch < 0.4.1 did not save it
                    out[dst + "bn." + name] = torch.tensor(0)
                else:
                    out[dst + "bn." + name] = take(key).clone()
            if bias is not None:  # BN(y + b) equals BN(y) with running_mean - b: exact in eval mode
                out[dst + "bn.running_mean"] = out[dst + "bn.running_mean"] - bias
    return out, used


def _pconv_config(sd: Mapping[str, Tensor]) -> dict[str, Any]:
    if any(k.startswith(("stem.", "head.")) for k in sd):
        raise ValueError(
            "this pconv state dict has a stem and head (a PConvUNetWithStem); a bare state dict does not record "
            "stem_channels: load the checkpoint file written by `train` instead"
        )
    layers = depth(sd, "pconv")
    widths = [sd[f"encoder.{i}.conv.weight"].shape[0] for i in range(layers)]
    in_channels = sd["encoder.0.conv.weight"].shape[1]
    return dict(in_channels=in_channels, layers=layers, base_channels=widths[0], max_channels=max(widths))


def from_state_dict(state_dict: Mapping[str, Any], source: str | None = None) -> Any:
    """Build a `PConvUNet` that computes exactly what a checkpoint's network computed.

    Args:
        state_dict: the network's state dict in one of the layouts of `SOURCES` (see the
            module header), or a checkpoint dict holding one ("model" or "state_dict").
        source: "naoto", "mmagic" or "pconv"; None: detected from the key names.

    Returns:
        A `PConvUNet` in eval mode on the CPU (float64 for a float64 state dict, else
        float32) that takes [0, 1] RGB images and a (N, 1, H, W) mask, 1 = valid, and
        returns outputs in [0, 1] space; its depth is the checkpoint's.

    Raises:
        ValueError: an unknown `source`, a state dict in no known layout or not in the
            given one, or weights of another architecture (the message names the key).
    """
    if source is not None and source not in SOURCES:
        raise ValueError(f"source must be one of {', '.join(SOURCES)} or None (detect), got {source!r}")
    sd = state_dict_of(state_dict)
    found = detect_source(sd) if source is None else source
    if source is not None and not any(_LAYOUT[source]["probe"].match(k) for k in sd):
        try:
            hint = f"; its keys are in the {detect_source(sd)} layout: pass source={detect_source(sd)!r} or None"
        except ValueError:
            hint = ""
        raise ValueError(f"the state dict is not in the {source} layout (found keys: {_few(sd)}){hint}")
    if found == "pconv":
        config = _pconv_config(sd)
        converted, used = dict(sd), set(sd)
    else:
        layers = depth(sd, found)
        converted, used = _convert(sd, found, layers)
        normalize = (IMAGENET_MEAN, IMAGENET_STD) if found == "naoto" else (0.5, 0.5)
        config = dict(layers=layers, normalize=normalize)
    extra = [k for k in sd if k not in used]
    if extra:
        raise ValueError(f"the {found} state dict has keys the paper's network does not: {_few(extra)}")
    model = PConvUNet(**config)
    expected = model.state_dict()
    for key, value in converted.items():
        if key not in expected or expected[key].shape != value.shape:
            want = tuple(expected[key].shape) if key in expected else "no such key"
            raise ValueError(
                f"the {found} weights are of another architecture: {key} is {tuple(value.shape)} where "
                f"PConvUNet({', '.join(f'{k}={v!r}' for k, v in config.items())}) needs {want}"
            )
    missing = [k for k in expected if k not in converted]
    if missing:
        raise ValueError(f"the {found} state dict lacks {_few(missing)}")
    dtype = torch.float64 if converted["encoder.0.conv.weight"].dtype == torch.float64 else torch.float32
    model.to(dtype).load_state_dict({k: v.to(dtype) if v.is_floating_point() else v for k, v in converted.items()})
    return model.eval()
