"""Tests for pconv.nn.inpainter: what every inpainting network does around its layers.

Entry checks with actionable messages, values under holes that cannot leak (NaN and inf
included), `normalize` as the plain network on normalised images, `freeze_encoder_bn` for the
paper's fine-tuning stage (Liu et al. 2018, Sec. 5.1), and `predict` / `inpaint` at any size
against a plain pad-forward-crop reference. Run on `PConvUNet` and `PConvUNetWithStem`.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from tiny_nets import random_masks, tiny_pconv_unet

from pconv.nn import Inpainter, PConvUNet, PConvUNetWithStem


def test_both_networks_are_inpainters_and_the_base_has_no_layers():
    assert isinstance(tiny_pconv_unet(), Inpainter)
    assert isinstance(PConvUNetWithStem(layers=3, base_channels=4, stem_channels=4), Inpainter)
    bare = Inpainter(in_channels=3, layers=2, normalize=None)
    assert bare.multiple == 4 and bare.image_mean is None
    with pytest.raises(NotImplementedError):
        bare.unet(torch.zeros(1, 3, 4, 4), torch.ones(1, 1, 4, 4))


def test_entry_errors():
    model = tiny_pconv_unet()
    image, mask = torch.rand(1, 3, 16, 16), random_masks(1, 16, 16)
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
    model = tiny_pconv_unet().freeze_encoder_bn(True)
    enc = [m for m in model.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    dec = [m for m in model.decoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert enc and dec
    model.train()
    assert all(not bn.training and not bn.weight.requires_grad for bn in enc)
    assert all(bn.training and bn.weight.requires_grad for bn in dec)
    before = [bn.running_mean.clone() for bn in enc]
    model(torch.rand(2, 3, 16, 16), random_masks(2, 16, 16))
    assert all(torch.equal(b, bn.running_mean) for b, bn in zip(before, enc))
    model.freeze_encoder_bn(False)
    assert all(bn.training and bn.weight.requires_grad for bn in enc)


@pytest.mark.parametrize("train", [False, True])
def test_inpaint_any_size_keeps_known_pixels_and_mode(train):
    model = tiny_pconv_unet().train(train)
    image, mask = torch.rand(2, 3, 13, 22, dtype=torch.float64), random_masks(2, 13, 22)
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


def test_normalize_is_the_plain_network_on_normalised_images():
    mean, std = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # ImageNet's
    plain = tiny_pconv_unet().double().eval()  # eval: inpaint below runs in eval mode too
    normed = tiny_pconv_unet(normalize=(mean, std)).double().eval()
    normed.load_state_dict(plain.state_dict())
    assert set(normed.state_dict()) == set(plain.state_dict())  # the constants are not saved
    assert normed.config["normalize"] == [mean, std]
    image, mask = torch.rand(2, 3, 16, 16, dtype=torch.float64), random_masks(2, 16, 16)
    # the model keeps its constants as float32 buffers (then .double()): round them the same way here
    m, s = (torch.tensor(v).double().view(1, 3, 1, 1) for v in (mean, std))
    with torch.no_grad():
        # The plain network's U-Net on what the original implementations feed in (forward itself
        # refuses images outside [0, 1]).
        want, want_mask = plain.unet((image - m) / s * mask, mask)
        got, got_mask = normed(image, mask)
    torch.testing.assert_close(got, want * s + m, rtol=1e-12, atol=1e-12)
    assert torch.equal(got_mask, want_mask)
    result = normed.inpaint(image, mask)  # the composite is in [0, 1] space: known pixels are the image's
    known = mask.expand_as(image) > 0
    assert torch.equal(result[known], image[known]) and result.min() >= 0 and result.max() <= 1
    torch.testing.assert_close(result[~known], (want * s + m).clamp(0, 1)[~known], rtol=1e-12, atol=1e-12)
    half = tiny_pconv_unet(normalize=(0.5, 0.5))  # one float for every channel: the [-1, 1] convention
    assert half.config["normalize"] == [[0.5] * 3, [0.5] * 3]


def test_a_bad_normalize_argument_is_refused_at_construction():
    with pytest.raises(ValueError, match="normalize must be None or"):
        tiny_pconv_unet(normalize="imagenet")


@pytest.mark.parametrize("junk", [float("nan"), float("inf"), -float("inf"), 1e30])
@pytest.mark.parametrize(
    "build",
    [
        tiny_pconv_unet,
        lambda: tiny_pconv_unet(normalize=(0.5, 0.5)),
        lambda: PConvUNetWithStem(layers=3, base_channels=4, stem_channels=4),
    ],
)
def test_values_under_holes_cannot_leak(junk, build):
    model = build().eval()
    image = torch.rand(2, 3, 16, 16)
    mask = torch.ones(2, 1, 16, 16)
    mask[:, :, 3:12, 4:13] = 0  # one big hole: a single NaN pixel used to spread over most of it
    dirty = torch.where(mask > 0, image, junk)
    with torch.no_grad():
        output, _ = model(dirty, mask)
        assert torch.isfinite(output).all() and torch.equal(output, model(image, mask)[0])
    result = model.inpaint(dirty[:, :, :13, :11], mask[:, :, :13, :11])  # padded by reflection
    assert torch.isfinite(result).all()
    assert torch.equal(result, model.inpaint(image[:, :, :13, :11], mask[:, :, :13, :11]))


@pytest.mark.parametrize(
    "scale, shift, match",
    [
        (255.0, 0.0, r"span \[0, 255\].*255"),  # 8-bit values as floats
        (2.0, -1.0, r"span \[-1, 1\].*\(image \+ 1\) / 2"),  # the [-1, 1] convention
    ],
)
def test_images_outside_0_1_are_refused(scale, shift, match):
    model = tiny_pconv_unet()
    image, mask = torch.rand(1, 3, 16, 16), random_masks(1, 16, 16)
    image[..., 0, 0], image[..., 0, 1] = 0.0, 1.0
    mask[..., 0, :2] = 1
    wrong = image * scale + shift
    with pytest.raises(ValueError, match=match):
        model(wrong, mask)
    with pytest.raises(ValueError, match=match):
        model.inpaint(wrong[0, :, :13], mask[0, :, :13])
    slightly = image * 1.2 - 0.1  # resampling overshoot stays accepted
    model(slightly, mask)
    hole_only = torch.where(mask > 0, image, 255.0)  # values under holes are not looked at
    model(hole_only, mask)
    nan_known = image.clone()
    nan_known[..., 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf at known pixels"):
        model(nan_known, mask)


@pytest.mark.parametrize("hw", [(37, 53), (8, 8), (3, 5)])
def test_predict_is_the_forward_at_any_size_and_inpaint_its_composite(hw):
    model = PConvUNet(layers=3, base_channels=4).eval()
    h, w = hw
    image, mask = torch.rand(3, h, w), (torch.rand(1, h, w) > 0.3).float()
    got = model.predict(image, mask)
    # reference: pad to a multiple of 2**3 (reflect when the image is large enough, else holes), forward, crop
    ph, pw = -h % 8, -w % 8
    mode = "reflect" if ph < h and pw < w else "constant"
    x, m = F.pad(image[None], (0, pw, 0, ph), mode=mode), F.pad(mask[None], (0, pw, 0, ph), mode=mode)
    with torch.no_grad():
        want = model(x, m)[0][0, :, :h, :w].clamp(0, 1)
    assert got.shape == (3, h, w) and torch.allclose(got, want)
    assert torch.equal(model.inpaint(image, mask), torch.where(mask > 0, image, got))
