"""PConvUNet and UNet: shapes, parameter counts, the paper's wiring, entry errors, inpaint."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pconv.layers import harmonic_fill
from pconv.models import PConvUNet, UNet


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def tiny(**kw) -> PConvUNet:
    torch.manual_seed(0)
    return PConvUNet(**{"layers": 3, "base_channels": 4, "max_channels": 8, **kw})


def masks(n: int, h: int, w: int, hole: float = 0.3, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, h, w, generator=gen) > hole).float()


def test_paper_parameter_counts():
    assert abs(n_params(PConvUNet()) - 25.8e6) < 0.05e6  # paper-size network at 256x256
    assert n_params(PConvUNet(layers=8)) > n_params(PConvUNet())
    assert abs(n_params(UNet()) - 31.04e6) < 0.01e6


@pytest.mark.parametrize("layers,size", [(7, 256), (8, 512)])
def test_pconv_unet_shapes(layers, size):
    model = PConvUNet(layers=layers, base_channels=2, max_channels=8)
    assert [b.conv.kernel_size[0] for b in model.encoder] == [7, 5, 5] + [3] * (layers - 3)
    image, mask = torch.rand(1, 3, size, size), masks(1, size, size)
    output, output_mask = model(image, mask)
    assert output.shape == (1, 3, size, size) and output_mask.shape == (
        1,
        1,
        size,
        size,
    )
    assert torch.isfinite(output).all()


def naive_forward(model: PConvUNet, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The paper's network spelled out: C-channel masks, concatenated with the features."""

    def pconv(conv, x, m):  # eq. 1-2 with a full multi-channel mask (NVIDIA-style)
        ones = torch.ones(1, *conv.weight.shape[1:])
        s = F.conv2d(m, ones, stride=conv.stride, padding=conv.padding)
        out = F.conv2d(x * m, conv.weight, None, conv.stride, conv.padding)
        out = out * ones.numel() / s.clamp(min=1) * (s > 0)
        if conv.bias is not None:
            out = out + conv.bias.view(1, -1, 1, 1) * (s > 0)
        return out, (s > 0).float()

    def block(b, x, m):
        x, m1 = pconv(b.conv, x, m)
        x = b.bn(x) if b.bn is not None else x
        x = {
            "relu": F.relu,
            "leaky_relu": lambda t: F.leaky_relu(t, 0.2),
            None: lambda t: t,
        }[b.activation](x)
        return x, m1.expand(-1, b.conv.out_channels, -1, -1)

    x, m = image, mask.expand_as(image)
    skips = [(x, m)]
    for down in model.encoder:
        x, m = block(down, x, m)
        skips.append((x, m))
    x, m = skips.pop()
    for up in model.decoder:
        s, sm = skips.pop()
        x, m = F.interpolate(x, scale_factor=2.0), F.interpolate(m, scale_factor=2.0)
        x, m = block(up.block, torch.cat([x, s], 1), torch.cat([m, sm], 1))
    return x


@pytest.mark.parametrize("train", [False, True])
def test_matches_naive_multichannel_network(train):
    model = tiny()
    for bn in model.modules():  # non-trivial BatchNorm statistics and affine
        if isinstance(bn, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(bn.running_mean, -0.5, 0.5)
            torch.nn.init.uniform_(bn.running_var, 0.5, 2.0)
            torch.nn.init.uniform_(bn.weight, 0.5, 1.5)
            torch.nn.init.uniform_(bn.bias, -0.5, 0.5)
    model.train(train)
    image, mask = torch.rand(2, 3, 32, 24), masks(2, 32, 24, hole=0.6)
    mask[:, :, 4:20, 4:20] = 0  # a hole large enough to leave deep windows empty
    with torch.no_grad():
        want = naive_forward(model, image, mask)
        got, _ = model(image, mask)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_training_step_gradients_and_bf16():
    model = tiny(upsampling="bilinear")
    image, mask = torch.rand(2, 3, 16, 16), masks(2, 16, 16)
    output, _ = model(image, mask)
    (output - image).abs().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output, _ = model(image, mask)
    assert output.dtype == torch.bfloat16 and torch.isfinite(output).all()
    output.float().mean().backward()


def test_entry_errors():
    model = tiny()
    image, mask = torch.rand(1, 3, 16, 16), masks(1, 16, 16)
    cases = [
        ((image[0], mask), "image must be"),
        ((torch.rand(1, 4, 16, 16), mask), "image must be"),
        ((image.to(torch.uint8), mask), "float"),
        ((image, mask[0]), "mask must be"),
        ((image, torch.ones(1, 3, 16, 16)), "mask must be"),
        ((image, torch.ones(1, 1, 16, 8)), "does not match"),
        ((torch.rand(2, 3, 16, 16), torch.ones(3, 1, 16, 16)), "does not match"),
        (
            (torch.rand(1, 3, 20, 16), torch.ones(1, 1, 20, 16)),
            r"multiples of 2\*\*layers = 8.*inpaint",
        ),
        ((image, mask * 0.5), "binary"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            model(*args)
    with pytest.raises(ValueError, match="upsampling"):
        PConvUNet(upsampling="bicubic")
    with pytest.raises(ValueError, match="layers"):
        PConvUNet(layers=0)


def test_freeze_encoder_bn_survives_train():
    model = tiny().freeze_encoder_bn(True)
    enc = [m for m in model.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    dec = [m for m in model.decoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert enc and dec
    model.train()
    assert all(not bn.training and not bn.weight.requires_grad for bn in enc)
    assert all(bn.training and bn.weight.requires_grad for bn in dec)
    before = [bn.running_mean.clone() for bn in enc]
    model(torch.rand(2, 3, 16, 16), masks(2, 16, 16))
    assert all(torch.equal(b, bn.running_mean) for b, bn in zip(before, enc))
    model.freeze_encoder_bn(False)
    assert all(bn.training and bn.weight.requires_grad for bn in enc)


@pytest.mark.parametrize("train", [False, True])
def test_inpaint_any_size_keeps_known_pixels_and_mode(train):
    model = tiny().train(train)
    image, mask = torch.rand(2, 3, 13, 22, dtype=torch.float64), masks(2, 13, 22)
    result = model.inpaint(image, mask)
    assert result.shape == image.shape and result.dtype == torch.float64 and not result.requires_grad
    known = mask.expand_as(image) > 0
    assert torch.equal(result[known], image[known])
    assert result.min() >= 0 and result.max() <= 1
    assert model.training == train
    single = model.inpaint(image[0], mask[0])
    assert single.shape == image[0].shape
    torch.testing.assert_close(single, result[0])
    small = model.inpaint(torch.rand(3, 3, 5), torch.zeros(1, 3, 5))  # too small to reflect-pad
    assert small.shape == (3, 3, 5) and torch.isfinite(small).all()
    with pytest.raises(ValueError, match="mask must be"):
        model.inpaint(image[0], mask)
    with pytest.raises(ValueError, match="binary"):
        model.inpaint(image, mask * 0.5)


@pytest.mark.parametrize("bilinear", [False, True])
def test_unet_odd_sizes(bilinear):
    torch.manual_seed(0)
    net = UNet(in_channels=3, out_channels=2, features=(4, 8, 16), bilinear=bilinear)
    for h, w in [(37, 51), (8, 8), (64, 40)]:
        assert net(torch.rand(2, 3, h, w)).shape == (2, 2, h, w)
    with pytest.raises(ValueError, match="at least"):
        net(torch.rand(1, 3, 7, 40))
    with pytest.raises(ValueError, match="image must be"):
        net(torch.rand(3, 32, 32))


@pytest.mark.parametrize(
    "cls, kwargs",
    [
        (PConvUNet, dict(layers=3, base_channels=8, max_channels=16, upsampling="bilinear", stem_channels=4)),
        (PConvUNet, dict(layers=2, base_channels=4, residual=True)),
        (UNet, dict(in_channels=1, out_channels=2, features=(4, 8), bilinear=True)),
    ],
)
def test_config_rebuilds_the_same_network(cls, kwargs):
    model = cls(**kwargs)
    twin = cls(**model.config)
    assert {k: v.shape for k, v in twin.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    twin.load_state_dict(model.state_dict())


def test_stem_wraps_the_paper_network_at_full_resolution():
    plain = PConvUNet(layers=3, base_channels=8)
    stem = PConvUNet(layers=3, base_channels=8, stem_channels=4)
    assert plain.stem is None and plain.head is None
    assert stem.stem.conv.stride == (1, 1) and stem.head.conv.out_channels == 3
    assert stem.encoder[0].conv.in_channels == 4 and stem.decoder[-1].block.conv.out_channels == 4
    torch.manual_seed(0)
    image = torch.rand(2, 3, 16, 16)
    mask = (torch.rand(2, 1, 16, 16) > 0.4).float()
    output, output_mask = stem(image, mask)
    assert output.shape == image.shape and output_mask.shape == mask.shape
    noisy = image + (1 - mask) * torch.rand_like(image)  # values under the holes are ignored
    assert torch.allclose(stem(noisy, mask)[0], output)
    result = stem.inpaint(image, mask)
    assert torch.equal(result * mask, image * mask)
    with pytest.raises(ValueError, match="stem_channels"):
        PConvUNet(stem_channels=-1)


@pytest.mark.parametrize("stem_channels", [0, 4])
def test_residual_starts_as_the_harmonic_fill_and_learns_a_correction(stem_channels):
    torch.manual_seed(0)
    model = PConvUNet(layers=3, base_channels=8, stem_channels=stem_channels, residual=True)
    assert model.config["residual"] is True
    image = torch.rand(4, 3, 16, 16)
    mask = (torch.rand(4, 1, 16, 16) > 0.4).float()
    output, _ = model(image, mask)
    assert torch.allclose(output, harmonic_fill(image * mask, mask), atol=1e-6)  # untrained: exactly the fill
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the fill stays float32 under mixed precision
        mixed, _ = model(image, mask)
    assert mixed.dtype == torch.float32 and torch.allclose(mixed, output, atol=1e-6)
    assert torch.equal(model.inpaint(image, mask) * mask, image * mask)
    optimizer = torch.optim.Adam(model.parameters(), 1e-2)
    for _ in range(3):
        loss = ((1 - mask) * (model(image, mask)[0] - image)).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    correction = model(image, mask)[0] - harmonic_fill(image * mask, mask)
    assert correction.abs().max() > 1e-3  # the zero-initialised last layer does learn
    noisy = image + (1 - mask) * torch.rand_like(image)  # values under the holes are still ignored
    assert torch.allclose(model(noisy, mask)[0], model(image, mask)[0], atol=1e-6)
