"""PConvUNet, PConvUNetWithStem and UNet: shapes, parameter counts per the paper's table, the paper's
wiring, the stem and head, configs and checkpoints. What the inpainting networks share (entry
checks, values under holes, normalisation, predict and inpaint) is in tests/nn/test_inpainter.py."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from tiny_nets import random_masks, tiny_pconv_unet

from pconv.nn import PConvUNet, PConvUNetWithStem, UNet, composite
from pconv.train import model_from_checkpoint, model_info


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# The paper's appendix table (512x512 input), as (kernel, input channels, output channels, BatchNorm).
# The input channels of a decoder layer are its upsampled input plus the concatenated skip.
PAPER_TABLE = [
    (7, 3, 64, False),  # PConv1, stride 2, ReLU
    (5, 64, 128, True),  # PConv2
    (5, 128, 256, True),  # PConv3
    (3, 256, 512, True),  # PConv4
    (3, 512, 512, True),  # PConv5
    (3, 512, 512, True),  # PConv6
    (3, 512, 512, True),  # PConv7
    (3, 512, 512, True),  # PConv8
    (3, 512 + 512, 512, True),  # PConv9, LeakyReLU(0.2) from here on
    (3, 512 + 512, 512, True),  # PConv10
    (3, 512 + 512, 512, True),  # PConv11
    (3, 512 + 512, 512, True),  # PConv12
    (3, 512 + 256, 256, True),  # PConv13
    (3, 256 + 128, 128, True),  # PConv14
    (3, 128 + 64, 64, True),  # PConv15
    (3, 64 + 3, 3, False),  # PConv16, no activation
]


def table_params(kernel: int, c_in: int, c_out: int, bn: bool) -> int:
    # weights, then BatchNorm's scale and shift, or the convolution's bias where there is no BatchNorm
    return kernel * kernel * c_in * c_out + (2 * c_out if bn else c_out)


@pytest.mark.parametrize("layers", [8, 7])
def test_paper_parameter_counts(layers):
    # layers=7 (256x256) is the table without PConv8 and the decoder layer that mirrors it, PConv9.
    table = PAPER_TABLE if layers == 8 else PAPER_TABLE[:7] + PAPER_TABLE[9:]
    model = PConvUNet(layers=layers)
    blocks = list(model.encoder) + [up.block for up in model.decoder]
    assert len(blocks) == len(table) == 2 * layers
    for i, (block, row) in enumerate(zip(blocks, table)):
        assert n_params(block) == table_params(*row), f"PConv{i + 1}: {row}"
    assert n_params(model) == sum(table_params(*row) for row in table)
    if layers == 7:
        assert abs(n_params(model) - 25.8e6) < 0.05e6  # paper-size network at 256x256
    assert abs(n_params(UNet()) - 31.04e6) < 0.01e6


@pytest.mark.parametrize("layers,size", [(7, 256), (8, 512)])
def test_pconv_unet_shapes(layers, size):
    model = PConvUNet(layers=layers, base_channels=2, max_channels=8)
    assert [b.conv.kernel_size[0] for b in model.encoder] == [7, 5, 5] + [3] * (layers - 3)
    image, mask = torch.rand(1, 3, size, size), random_masks(1, size, size)
    output, output_mask = model(image, mask)
    assert output.shape == (1, 3, size, size) and output_mask.shape == (
        1,
        1,
        size,
        size,
    )
    assert torch.isfinite(output).all()


def naive_pconv(conv, x, m):
    """Eq. 1-2 with a full multi-channel mask (NVIDIA-style): (features, (N, C_out, H', W') mask)."""
    ones = torch.ones(1, *conv.weight.shape[1:])
    s = F.conv2d(m, ones, stride=conv.stride, padding=conv.padding)
    out = F.conv2d(x * m, conv.weight, None, conv.stride, conv.padding)
    out = out * ones.numel() / s.clamp(min=1) * (s > 0)
    if conv.bias is not None:
        out = out + conv.bias.view(1, -1, 1, 1) * (s > 0)
    return out, (s > 0).float()


def naive_block(b, x, m):
    """One row of the paper's table: partial conv, BatchNorm, activation; C-channel masks."""
    x, m1 = naive_pconv(b.conv, x, m)
    x = b.bn(x) if b.bn is not None else x
    x = {
        "relu": F.relu,
        "leaky_relu": lambda t: F.leaky_relu(t, 0.2),
        None: lambda t: t,
    }[b.activation](x)
    return x, m1.expand(-1, b.conv.out_channels, -1, -1)


def naive_unet(model: PConvUNet, x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The paper's U-Net spelled out: C-channel masks, concatenated with the features."""
    skips = [(x, m)]
    for down in model.encoder:
        x, m = naive_block(down, x, m)
        skips.append((x, m))
    x, m = skips.pop()
    for up in model.decoder:
        s, sm = skips.pop()
        x, m = F.interpolate(x, scale_factor=2.0), F.interpolate(m, scale_factor=2.0)
        x, m = naive_block(up.block, torch.cat([x, s], 1), torch.cat([m, sm], 1))
    return x, m


def naive_forward(model: PConvUNet, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The paper's network spelled out, on an image already zero under its holes."""
    return naive_unet(model, image, mask.expand_as(image))[0]


@pytest.mark.parametrize("train", [False, True])
def test_matches_naive_multichannel_network(train):
    model = tiny_pconv_unet()
    for bn in model.modules():  # non-trivial BatchNorm statistics and affine
        if isinstance(bn, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(bn.running_mean, -0.5, 0.5)
            torch.nn.init.uniform_(bn.running_var, 0.5, 2.0)
            torch.nn.init.uniform_(bn.weight, 0.5, 1.5)
            torch.nn.init.uniform_(bn.bias, -0.5, 0.5)
    model.train(train)
    image, mask = torch.rand(2, 3, 32, 24), random_masks(2, 32, 24, hole=0.6)
    mask[:, :, 4:20, 4:20] = 0  # a hole large enough to leave deep windows empty
    with torch.no_grad():
        want = naive_forward(model, image, mask)
        got, _ = model(image, mask)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_training_step_gradients_and_bf16():
    model = tiny_pconv_unet(upsampling="bilinear")
    image, mask = torch.rand(2, 3, 16, 16), random_masks(2, 16, 16)
    output, _ = model(image, mask)
    (output - image).abs().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output, _ = model(image, mask)
    assert output.dtype == torch.bfloat16 and torch.isfinite(output).all()
    output.float().mean().backward()


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (PConvUNetWithStem, dict(layers=3, base_channels=8, max_channels=16, upsampling="bilinear", stem_channels=4)),
        (PConvUNet, dict(layers=2, base_channels=4, normalize=(0.5, 0.5))),
        (UNet, dict(in_channels=1, out_channels=2, features=(4, 8), bilinear=True)),
    ],
)
def test_config_rebuilds_the_same_network(cls, kwargs):
    model = cls(**kwargs)
    twin = cls(**model.config)
    assert twin.config == model.config
    assert {k: v.shape for k, v in twin.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    twin.load_state_dict(model.state_dict())


def test_pconv_unet_is_a_plain_class_with_the_documented_constructor():
    """No `__new__` that hands out another class, no patched signature: the constructor is what it says."""
    import inspect

    assert "__new__" not in vars(PConvUNet) and "__signature__" not in vars(PConvUNet)
    params = inspect.signature(PConvUNet).parameters
    assert list(params) == [
        "in_channels", "layers", "base_channels", "max_channels", "upsampling", "normalize",
        "conv", "hole_value", "mask_channel",
    ]  # fmt: skip
    defaults = [p.default for p in params.values()]
    assert defaults == [3, 7, 64, 512, "nearest", None, "partial", 0.5, False]  # the paper's 256x256 network
    model = PConvUNet(layers=2)
    assert type(model) is PConvUNet and type(copy.deepcopy(model)) is PConvUNet
    assert set(model.config) == set(params)
    for removed in ("stem_channels", "residual"):  # the options that left the constructor
        with pytest.raises(TypeError, match=removed):
            PConvUNet(layers=2, **{removed: 4})


def naive_with_stem(model: PConvUNetWithStem, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The stem network spelled out: stem, the paper's U-Net on its features, head on [U-Net output, image]."""
    x, m = naive_block(model.stem, image, mask.expand_as(image))
    x, m = naive_unet(model.body, x, m)
    return naive_block(model.head, torch.cat([x, image], 1), torch.cat([m, mask.expand_as(image)], 1))[0]


def test_stem_wraps_the_paper_network_at_full_resolution():
    torch.manual_seed(0)
    model = PConvUNetWithStem(layers=3, base_channels=8, stem_channels=4)
    assert isinstance(model.body, PConvUNet) and not isinstance(model, PConvUNet)
    assert model.stem.conv.stride == (1, 1) and model.stem.conv.kernel_size == (3, 3)
    assert model.body.encoder[0].conv.in_channels == 4 and model.body.decoder[-1].block.conv.out_channels == 4
    assert model.head.conv.in_channels == 4 + 3 and model.head.conv.out_channels == 3
    assert model.encoder is model.body.encoder and model.multiple == 8
    image = torch.rand(2, 3, 16, 16)
    mask = (torch.rand(2, 1, 16, 16) > 0.4).float()
    output, output_mask = model(image, mask)
    assert output.shape == image.shape and output_mask.shape == mask.shape
    with torch.no_grad():
        torch.testing.assert_close(output, naive_with_stem(model, image * mask, mask), rtol=1e-4, atol=1e-5)
    noisy = image + (1 - mask) * torch.rand_like(image)  # values under the holes are ignored
    assert torch.allclose(model(noisy, mask)[0], output)
    result = model.inpaint(image[:, :, :13, :11], mask[:, :, :13, :11])  # any size, as PConvUNet's
    assert result.shape == (2, 3, 13, 11) and torch.equal(
        result * mask[:, :, :13, :11], image[:, :, :13, :11] * mask[:, :, :13, :11]
    )
    for bad, match in [
        ((image[:, :, :12], mask[:, :, :12]), r"multiples of 2\*\*layers = 8.*inpaint"),
        ((image, mask * 0.5), "binary"),
        ((image * 255, mask), "span"),
    ]:
        with pytest.raises(ValueError, match=match):
            model(*bad)
    with pytest.raises(ValueError, match="stem_channels must be >= 1.*PConvUNet"):
        PConvUNetWithStem(stem_channels=0)


def test_stem_network_freezes_its_unets_encoder_bn():
    model = PConvUNetWithStem(layers=3, base_channels=4, stem_channels=2).freeze_encoder_bn(True)
    enc = [m for m in model.body.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    dec = [m for m in model.body.decoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert enc and dec
    model.train()
    assert all(not bn.training and not bn.weight.requires_grad for bn in enc)
    assert all(bn.training and bn.weight.requires_grad for bn in dec)
    assert model.stem.conv.weight.requires_grad and model.head.conv.weight.requires_grad


# The keys and shapes of a stem network's state dict, in order: those of checkpoints written before
# the stem became its own class, with the U-Net's moved under `body.` (pconv/legacy.py).
STEM_STATE = [
    ("stem.conv.weight", (2, 3, 3, 3)), ("stem.conv.bias", (2,)),
    ("head.conv.weight", (3, 5, 3, 3)), ("head.conv.bias", (3,)),
    ("body.encoder.0.conv.weight", (4, 2, 7, 7)), ("body.encoder.0.conv.bias", (4,)),
    ("body.encoder.1.conv.weight", (8, 4, 5, 5)), ("body.encoder.1.bn.weight", (8,)),
    ("body.encoder.1.bn.bias", (8,)), ("body.encoder.1.bn.running_mean", (8,)),
    ("body.encoder.1.bn.running_var", (8,)), ("body.encoder.1.bn.num_batches_tracked", ()),
    ("body.decoder.0.block.conv.weight", (4, 12, 3, 3)), ("body.decoder.0.block.bn.weight", (4,)),
    ("body.decoder.0.block.bn.bias", (4,)), ("body.decoder.0.block.bn.running_mean", (4,)),
    ("body.decoder.0.block.bn.running_var", (4,)), ("body.decoder.0.block.bn.num_batches_tracked", ()),
    ("body.decoder.1.block.conv.weight", (2, 6, 3, 3)), ("body.decoder.1.block.conv.bias", (2,)),
]  # fmt: skip


def test_stem_network_keeps_the_parameter_order_of_old_checkpoints():
    model = PConvUNetWithStem(layers=2, base_channels=4, max_channels=8, stem_channels=2)
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == STEM_STATE
    # Saved optimizer state is matched to parameters by position: the order must not change either.
    assert [k for k, _ in model.named_parameters()] == [
        k for k, _ in STEM_STATE if "running" not in k and "num" not in k
    ]


@pytest.mark.parametrize(
    "build",
    [
        lambda: tiny_pconv_unet(),
        lambda: tiny_pconv_unet(normalize=((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))),
        lambda: PConvUNetWithStem(layers=3, base_channels=4, stem_channels=4, normalize=(0.5, 0.5)),
    ],
)
def test_checkpoints_rebuild_every_model(build):
    model = build().eval()
    ckpt = {"step": 1, "model": model.state_dict(), "config": {"model": model_info(model)}}
    rebuilt = model_from_checkpoint(ckpt)
    assert type(rebuilt) is type(model) and rebuilt.config == model.config
    image, mask = torch.rand(2, 3, 16, 16), random_masks(2, 16, 16)
    assert torch.equal(rebuilt(image, mask)[0], model(image, mask)[0])


@pytest.mark.parametrize(
    "build",
    [
        lambda: tiny_pconv_unet(),
        lambda: tiny_pconv_unet(normalize=((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))),
        lambda: PConvUNetWithStem(layers=2, base_channels=4, stem_channels=2),
    ],
    ids=["paper", "normalized", "stem"],
)
def test_the_partial_networks_composite_is_the_same_whatever_the_holes_hold(build):
    """Partial convolutions are "agnostic to hole values" (Liu et al. 2018, Fig. 2): bit for bit."""
    model = build().eval()
    image, mask = torch.rand(2, 3, 16, 16), random_masks(2, 16, 16, hole=0.5)
    holes = {
        "0": torch.zeros_like(image),
        "0.5": torch.full_like(image, 0.5),
        "noise": torch.rand(image.shape, generator=torch.Generator().manual_seed(5)) * 3 - 1,
        "nan": torch.full_like(image, float("nan")),
    }
    inputs = {name: torch.where(mask > 0, image, fill) for name, fill in holes.items()}
    with torch.no_grad():
        composites = {name: composite(x, mask, model(x, mask)[0]) for name, x in inputs.items()}
    inpainted = {name: model.inpaint(x, mask) for name, x in inputs.items()}
    for name in holes:
        assert torch.equal(composites[name], composites["0"]), name
        assert torch.equal(inpainted[name], inpainted["0"]), name
    assert torch.isfinite(inpainted["nan"]).all()
    model.hole_value = "imagenet"  # the partial layer has no hole value to change
    assert torch.equal(model.inpaint(inputs["noise"], mask), inpainted["0"])


def test_the_plain_networks_output_does_change_with_its_hole_value():
    """The paper's Fig. 2 e/f: ordinary convolutions depend on what the holes start with."""
    model = tiny_pconv_unet(conv="plain").eval()
    image, mask = torch.rand(2, 3, 16, 16), random_masks(2, 16, 16, hole=0.5)
    outputs = {}
    for value in (0.0, 0.5, "imagenet"):
        model.hole_value = value
        outputs[value] = model.inpaint(image, mask)
        noisy = torch.where(mask > 0, image, torch.rand_like(image))  # the fill, not what the holes held
        assert torch.equal(model.inpaint(noisy, mask), outputs[value])
    for a, b in [(0.0, 0.5), (0.5, "imagenet"), (0.0, "imagenet")]:
        changed = (outputs[a] - outputs[b]).abs()
        assert changed.max() > 1e-4, (a, b)
        assert torch.equal(changed * mask, torch.zeros_like(changed))  # known pixels stay exact


@pytest.mark.parametrize("conv", ["plain", "gated"])
def test_every_convolution_kind_rebuilds_from_its_config(conv):
    model = PConvUNetWithStem(layers=2, base_channels=4, stem_channels=2, conv=conv, hole_value=0.25)
    assert model.config == dict(
        in_channels=3,
        stem_channels=2,
        layers=2,
        base_channels=4,
        max_channels=512,
        upsampling="nearest",
        normalize=None,
        conv=conv,
        hole_value=0.25,
        mask_channel=False,
    )
    twin = PConvUNetWithStem(**model.config)
    twin.load_state_dict(model.state_dict())
    image, mask = torch.rand(1, 3, 8, 8), random_masks(1, 8, 8)
    assert torch.equal(twin.eval()(image, mask)[0], model.eval()(image, mask)[0])
