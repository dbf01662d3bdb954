"""The sources' networks, written out for the tests: random state dicts in their key layouts, and references.

Each source's forward pass is written here in plain PyTorch, from its code (read in the
sources, not imported): naoto0804's `net.py` (`PartialConv`, `PCBActiv`, `PConvUNet`) and
mmagic's `PartialConv2d`, `MaskConvModule`, `PConvEncoder`/`PConvDecoder` and
`PConvInpaintor` (BGR images in [-1, 1], masks 1 = valid after its inversion, repeated to
3 channels). The state dicts have the sources' keys and shapes, random weights and random
BatchNorm statistics; `naoto_file` and `mmagic_file` save them as the sources' code does, and
`register` adds a `PRETRAINED` entry for such a file (served as file://).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from pconv.data import irregular_mask
from pconv.pretrained.convert import IMAGENET_MEAN, IMAGENET_STD
from pconv.pretrained.registry import PRETRAINED, Pretrained

D = torch.float64
BN = ("weight", "bias", "running_mean", "running_var")


# ---- the sources' shapes (their constructors) ----------------------------------------------
def enc_shapes(layers: int) -> list[tuple[int, int, int]]:
    """(C_in, C_out, kernel) of encoder layers 1..layers in both sources (they hard-code 4 levels)."""
    return [(3, 64, 7), (64, 128, 5), (128, 256, 5), (256, 512, 3)] + [(512, 512, 3)] * (layers - 4)


def dec_shapes(layers: int) -> list[tuple[int, int]]:
    """(C_in, C_out) of decoder layers 1..layers: (upsampled + skip) -> out."""
    return [(64 + 3, 3), (128 + 64, 64), (256 + 128, 128), (512 + 256, 256)] + [(1024, 512)] * (layers - 4)


def random_bn(g: torch.Generator, prefix: str, c: int) -> dict[str, torch.Tensor]:
    return {
        prefix + "weight": 1 + 0.3 * torch.randn(c, generator=g, dtype=D),
        prefix + "bias": 0.3 * torch.randn(c, generator=g, dtype=D),
        prefix + "running_mean": 0.3 * torch.randn(c, generator=g, dtype=D),
        prefix + "running_var": 0.5 + torch.rand(c, generator=g, dtype=D),
        prefix + "num_batches_tracked": torch.tensor(1000),
    }


def naoto_state_dict(layers: int, seed: int = 0, old: bool = False) -> dict[str, torch.Tensor]:
    """naoto0804's PConvUNet(layer_size=layers).state_dict() with random values.

    old: the first net.py (`conv2d`/`mask2d`, a bias in every layer) instead of the released one
    (`input_conv`/`mask_conv`, a bias in dec_1 only).
    """
    g = torch.Generator().manual_seed(seed)
    conv, mask = ("conv.conv2d.", "conv.mask2d.") if old else ("conv.input_conv.", "conv.mask_conv.")
    sd = {}
    layers_io = [(f"enc_{i + 1}.", ci, co, k) for i, (ci, co, k) in enumerate(enc_shapes(layers))]
    layers_io += [(f"dec_{i + 1}.", ci, co, 3) for i, (ci, co) in enumerate(dec_shapes(layers))]
    for prefix, ci, co, k in layers_io:
        fan_in = ci * k * k
        # Outputs are W^T (X*M) / S: weights ~sqrt(fan_in) (pconv-scale ones times K) keep activations near 1.
        sd[prefix + conv + "weight"] = (
            torch.randn(co, ci, k, k, generator=g, dtype=D) * math.sqrt(0.75 / fan_in) * fan_in
        )
        sd[prefix + mask + "weight"] = torch.ones(co, ci, k, k, dtype=D)
        if old:
            sd[prefix + mask + "bias"] = torch.zeros(co, dtype=D)
        if old or prefix == "dec_1.":
            sd[prefix + conv + "bias"] = 0.2 * torch.randn(co, generator=g, dtype=D)
        if prefix not in ("enc_1.", "dec_1."):
            sd.update(random_bn(g, prefix + "bn.", co))
    return sd


def mmagic_state_dict(layers: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """mmagic's PConvInpaintor.state_dict(): "generator." + PConvEncoderDecoder, plus the loss VGG."""
    g = torch.Generator().manual_seed(seed)
    sd = {"loss_composed_percep.vgg.vgg_layers.0.weight": torch.randn(64, 3, 3, 3, dtype=D)}
    layers_io = [(f"encoder.enc{i + 1}.", ci, co, k) for i, (ci, co, k) in enumerate(enc_shapes(layers))]
    layers_io += [(f"decoder.dec{i + 1}.", ci, co, 3) for i, (ci, co) in enumerate(dec_shapes(layers))]
    for prefix, ci, co, k in layers_io:
        p = "generator." + prefix
        sd[p + "conv.weight"] = torch.randn(co, ci, k, k, generator=g, dtype=D) * math.sqrt(0.75 / (ci * k * k))
        sd[p + "conv.weight_mask_updater"] = torch.ones(co, ci, k, k, dtype=D)
        if prefix in ("encoder.enc1.", "decoder.dec1."):  # ConvModule bias='auto': a bias where there is no norm
            sd[p + "conv.bias"] = 0.2 * torch.randn(co, generator=g, dtype=D)
        else:
            sd.update(random_bn(g, p + "bn.", co))
    return sd


# ---- the sources' forward passes, written out -------------------------------------------
def batch_norm_eval(sd: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    w, b, mean, var = (sd[prefix + "bn." + n].view(1, -1, 1, 1) for n in BN)
    return (x - mean) / torch.sqrt(var + 1e-5) * w + b


def upsample2(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour x2: every pixel repeated into a 2x2 block."""
    return x.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)


def unet_reference(sd: dict, x: torch.Tensor, m: torch.Tensor, layers: int, pconv, names) -> torch.Tensor:
    """The U-Net both sources share, around their own partial convolution `pconv(prefix, x, m, stride, pad)`."""
    pads = {7: 3, 5: 2, 3: 1}
    h, masks = [x], [m]
    for i, (_, _, k) in enumerate(enc_shapes(layers)):
        out, mo = pconv(names["enc"].format(i + 1), h[-1], masks[-1], 2, pads[k])
        if i > 0:
            out = batch_norm_eval(sd, names["enc"].format(i + 1), out)
        h.append(torch.relu(out))
        masks.append(mo)
    out, mo = h.pop(), masks.pop()
    for i in range(layers, 0, -1):
        out = torch.cat([upsample2(out), h.pop()], dim=1)  # (upsampled, skip)
        mo = torch.cat([upsample2(mo), masks.pop()], dim=1)
        out, mo = pconv(names["dec"].format(i), out, mo, 1, 1)
        if i > 1:
            out = F.leaky_relu(batch_norm_eval(sd, names["dec"].format(i), out), 0.2)
    return out


def naoto_reference(sd: dict, image: torch.Tensor, mask: torch.Tensor, layers: int) -> torch.Tensor:
    """naoto0804: ImageNet-normalised RGB in, 3-channel mask, output in the normalised space; mapped to [0, 1]."""
    conv = "conv.conv2d." if "enc_1.conv.conv2d.weight" in sd else "conv.input_conv."

    def pconv(prefix, x, m, stride, pad):  # W^T (X * M) / sum(M) + b where sum(M) > 0, else 0
        w, b = sd[prefix + conv + "weight"], sd.get(prefix + conv + "bias")
        raw = F.conv2d(x * m, w, None, stride, pad)
        s = F.conv2d(m, torch.ones_like(w), None, stride, pad)  # sum(M), the same in every output channel
        out = raw / s.clamp(min=1) + (0 if b is None else b.view(1, -1, 1, 1))
        return torch.where(s > 0, out, 0.0), (s > 0).to(x.dtype)

    mean, std = (torch.tensor(v, dtype=D).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    m3 = mask.expand(-1, 3, -1, -1)
    out = unet_reference(sd, (image - mean) / std * m3, m3, layers, pconv, dict(enc="enc_{}.", dec="dec_{}."))
    return out * std + mean


def mmagic_reference(sd: dict, image: torch.Tensor, mask: torch.Tensor, layers: int) -> torch.Tensor:
    """mmagic: BGR in [-1, 1], mask (1 = valid after PConvInpaintor's inversion) repeated to 3 channels."""
    sd = {k.removeprefix("generator."): v for k, v in sd.items()}

    def pconv(prefix, x, m, stride, pad):  # PartialConv2d(multi_channel=True, eps=1e-8)
        w, b = sd[prefix + "conv.weight"], sd.get(prefix + "conv.bias")
        s = F.conv2d(m, sd[prefix + "conv.weight_mask_updater"], None, stride, pad)
        updated = s.clamp(0, 1)
        ratio = w[0].numel() / (s + 1e-8) * updated
        raw = F.conv2d(x * m, w, b, stride, pad)
        if b is None:
            return raw * ratio, updated
        b = b.view(1, -1, 1, 1)
        return ((raw - b) * ratio + b) * updated, updated

    bgr = image[:, [2, 1, 0]]
    garbage = torch.full_like(bgr, -1.0)  # mmagic's masked image is -1 under holes; the first layer masks it
    x = torch.where(mask > 0, bgr * 2 - 1, garbage)
    m3 = mask.expand(-1, 3, -1, -1)
    out = unet_reference(sd, x, m3, layers, pconv, dict(enc="encoder.enc{}.", dec="decoder.dec{}."))
    return (out[:, [2, 1, 0]] + 1) / 2


# ---- inputs ------------------------------------------------------------------------------
def images_and_masks(n: int, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(n, 3, size, size, generator=g, dtype=D)
    ranges = [(0.05, 0.2), (0.4, 0.6), (0.2, 0.4)]
    masks = [torch.from_numpy(irregular_mask(size, size, ranges[i % 3], rng=seed + i)) for i in range(n)]
    return image, torch.stack(masks)[:, None].to(D)


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


# ---- the files the sources save, and registry entries for them ------------------------------
def float32(sd: dict) -> dict:
    return {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}


def naoto_file(path: Path, layers: int = 4, legacy: bool = True, seed: int = 0) -> Path:
    """What naoto0804's save_ckpt writes: {"n_iter", "model", "optimizer"} (Adam's state), by PyTorch 0.4's format."""
    sd = float32(naoto_state_dict(layers, seed=seed))
    params = [torch.nn.Parameter(v.clone()) for k, v in sd.items() if "input_conv" in k]
    opt = torch.optim.Adam(params, lr=2e-4)
    for p in params:
        p.grad = torch.ones_like(p)
    opt.step()
    ckpt = {"n_iter": 1000000, "model": sd, "optimizer": opt.state_dict()}
    torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy)
    return path


def mmagic_file(path: Path, layers: int = 4, prefix: bool = True, meta: dict | None = None) -> Path:
    """What mmcv's save_checkpoint and mmagic's publish_model leave: {"meta", "state_dict"}, no optimizer."""
    sd = float32(mmagic_state_dict(layers))
    if not prefix:
        sd = {k.removeprefix("generator."): v for k, v in sd.items() if k.startswith("generator.")}
    meta = meta or {"mmedit_version": "0.1.0", "iter": 500000, "epoch": 1, "time": "Fri Jun 19 2020", "config": "..."}
    torch.save({"meta": meta, "state_dict": sd}, path)
    return path


def register(monkeypatch, name: str, file: Path | None, url: str | None = None, **kw) -> Pretrained:
    """A registry entry for a test file (served as file:// unless `url` is given)."""
    kw = {"source": "naoto", "layers": 4, **kw}
    entry = Pretrained(
        url=url or file.resolve().as_uri(),
        data="test",
        resolution=32,
        license="test",
        page="test",
        notes="test",
        **kw,
    )
    monkeypatch.setitem(PRETRAINED, name, entry)
    return entry
