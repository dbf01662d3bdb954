"""Tests for pconv.nn.conv_variants: the plain and gated layers, and the U-Nets built from them.

Each layer is checked against a plain re-implementation written here with `F.conv2d`:
- plain: an ordinary convolution of the hole-filled input, BatchNorm, activation;
- gated (Yu et al. 2019, arXiv:1806.03589, eq. 2): features = W_f x, gates = W_g x, with W_f and
  W_g the first and second halves of the module's 2 * C_out filters, out = phi(BN(features)) *
  1 / (1 + exp(-gates));
and the whole networks against the same wiring spelled out (the paper's U-Net, Liu et al. 2018,
arXiv:1804.07723, Sec. 3.2), with the holes set to `hole_value` in [0, 1] space before any
normalisation and the mask as an input channel where it is one. Then each variant through the
real checkpoint files, the real Trainer with the real `InpaintingLoss` (no VGG), and a resume.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from tiny_nets import random_masks
from tiny_run import Pairs, cfg

from pconv.nn import InpaintingLoss, PConvUNet, PConvUNetWithStem
from pconv.nn.blocks import PConvBlock, PConvUp
from pconv.nn.conv_variants import GatedBlock, PlainBlock, VariantUp, make_block, make_up
from pconv.train import Trainer, load_checkpoint, model_from_checkpoint, model_info, save_checkpoint

D = torch.float64
IMAGENET = (0.485, 0.456, 0.406)  # the ImageNet mean, the paper's Fig. 2 f hole value
VARIANTS = [dict(conv="plain"), dict(conv="plain", mask_channel=True), dict(conv="gated")]
VARIANT_IDS = ["plain", "plain+mask", "gated"]


def act(x: torch.Tensor, activation: str | None) -> torch.Tensor:
    if activation == "relu":
        return x.clamp(min=0)
    if activation == "leaky_relu":
        return torch.where(x > 0, x, 0.2 * x)
    return x


def batch_norm(bn: torch.nn.BatchNorm2d, x: torch.Tensor, training: bool) -> torch.Tensor:
    """BatchNorm written out: batch statistics (biased variance) in training, running ones in eval."""
    if training:
        mean, var = x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
    else:
        mean, var = bn.running_mean, bn.running_var
    view = (1, -1, 1, 1)
    return (x - mean.view(view)) / torch.sqrt(var.view(view) + bn.eps) * bn.weight.view(view) + bn.bias.view(view)


def plain_ref(block, x: torch.Tensor, training: bool) -> torch.Tensor:
    c = block.conv
    y = F.conv2d(x, c.weight, c.bias, c.stride, c.padding)
    y = batch_norm(block.bn, y, training) if block.bn is not None else y
    return act(y, block.activation)


def gated_ref(block, x: torch.Tensor, training: bool) -> torch.Tensor:
    c, n = block.conv, block.conv.out_channels // 2
    features = F.conv2d(x, c.weight[:n], c.bias[:n], c.stride, c.padding)
    gates = F.conv2d(x, c.weight[n:], c.bias[n:], c.stride, c.padding)
    features = batch_norm(block.bn, features, training) if block.bn is not None else features
    return act(features, block.activation) / (1 + torch.exp(-gates))


REFS = {"plain": plain_ref, "gated": gated_ref}


def randomise_bn(model: torch.nn.Module) -> None:
    """Non-trivial BatchNorm statistics and affine parameters, so eval mode tests something."""
    gen = torch.Generator().manual_seed(3)
    for bn in model.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            c = bn.num_features
            bn.running_mean.copy_(torch.rand(c, generator=gen) - 0.5)
            bn.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
            bn.weight.data.copy_(torch.rand(c, generator=gen) + 0.5)
            bn.bias.data.copy_(torch.rand(c, generator=gen) - 0.5)


# ----------------------------------------------------------------------------- blocks


@pytest.mark.parametrize("conv", ["plain", "gated"])
@pytest.mark.parametrize(
    "kernel, stride, bn, activation",
    [(7, 2, False, "relu"), (5, 2, True, "relu"), (3, 1, True, "leaky_relu"), (3, 1, False, None)],
)
@pytest.mark.parametrize("training", [False, True])
def test_a_block_is_its_formula(conv, kernel, stride, bn, activation, training):
    torch.manual_seed(0)
    block = make_block(conv, 5, 4, kernel, stride=stride, bn=bn, activation=activation).to(D)
    assert type(block) is {"plain": PlainBlock, "gated": GatedBlock}[conv]
    assert block.conv.bias is not None or conv == "plain" and bn  # gated keeps the bias of both halves
    randomise_bn(block)
    block.train(training)
    a, b = torch.rand(2, 2, 12, 10, dtype=D), torch.rand(2, 3, 12, 10, dtype=D)
    masks = random_masks(2, 12, 10).to(D)
    out, out_mask = block((a, b), (masks, 1 - masks))  # parts: concatenated along channels, in order
    want = REFS[conv](block, torch.cat([a, b], 1), training)
    torch.testing.assert_close(out, want, rtol=1e-10, atol=1e-12)
    assert out_mask.dtype == torch.float32 and out_mask.shape == (2, 1, *out.shape[-2:])
    assert torch.equal(out_mask, torch.ones_like(out_mask))  # no mask update
    block.eval()
    again, _ = block(torch.cat([a, b], 1), torch.zeros(2, 1, 12, 10))  # the mask plays no part
    torch.testing.assert_close(again, REFS[conv](block, torch.cat([a, b], 1), False), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("conv", ["plain", "gated"])
@pytest.mark.parametrize("upsampling", ["nearest", "bilinear"])
def test_a_decoder_stage_upsamples_concatenates_and_convolves(conv, upsampling):
    torch.manual_seed(1)
    up = make_up(conv, 4, 3, 2, bn=True, activation="leaky_relu", upsampling=upsampling).to(D).eval()
    assert type(up) is VariantUp and up.block.conv.kernel_size == (3, 3)
    randomise_bn(up)
    x, skip = torch.rand(2, 4, 4, 5, dtype=D), torch.rand(2, 3, 8, 10, dtype=D)
    out, out_mask = up(x, torch.ones(2, 1, 4, 5), skip, random_masks(2, 8, 10))
    big = F.interpolate(
        x, scale_factor=2.0, mode=upsampling, **({} if upsampling == "nearest" else {"align_corners": False})
    )
    torch.testing.assert_close(out, REFS[conv](up.block, torch.cat([big, skip], 1), False), rtol=1e-10, atol=1e-12)
    assert out_mask.shape == (2, 1, 8, 10) and bool((out_mask == 1).all())


def test_the_factories_give_the_papers_blocks_for_partial_and_refuse_unknown_kinds():
    assert type(make_block("partial", 3, 4, 7, stride=2, bn=False)) is PConvBlock
    assert type(make_up("partial", 4, 3, 3, bn=False, activation=None)) is PConvUp
    for bad in ("Partial", "conv", None):
        with pytest.raises(ValueError, match=r"conv must be one of 'partial', 'plain', 'gated'"):
            make_block(bad, 3, 4, 3)
    with pytest.raises(ValueError, match="activation must be"):
        make_block("gated", 3, 4, 3, activation="gelu")
    with pytest.raises(ValueError, match="for 'partial' use PConvUp"):
        VariantUp("partial", 4, 3, 3)


# ----------------------------------------------------------------------------- networks


def hole_fill(model, channels: int) -> torch.Tensor:
    value = IMAGENET if model.hole_value == "imagenet" else [model.hole_value] * channels
    return torch.tensor(value, dtype=D).view(1, -1, 1, 1)


def ref_unet(model: PConvUNet, x: torch.Tensor, training: bool) -> torch.Tensor:
    """The U-Net wiring spelled out on an input that already holds its mask channel, if any."""
    ref = REFS[model.conv]
    skips = [x]
    for down in model.encoder:
        x = ref(down, x, training)
        skips.append(x)
    x = skips.pop()
    for up in model.decoder:
        kw = {} if up.upsampling == "nearest" else {"align_corners": False}
        x = F.interpolate(x, scale_factor=2.0, mode=up.upsampling, **kw)
        x = ref(up.block, torch.cat([x, skips.pop()], 1), training)
    return x


def ref_network(model, image: torch.Tensor, mask: torch.Tensor, training: bool) -> torch.Tensor:
    """Holes at hole_value in [0, 1] space, then normalise, then the mask as a channel, the layers, back."""
    c = image.shape[1]
    x = image * mask + (1 - mask) * hole_fill(model, c)
    mean, std = (
        (None, None)
        if model.normalize is None
        else (torch.tensor(v, dtype=D).view(1, -1, 1, 1) for v in model.normalize)
    )
    if mean is not None:
        x = (x - mean) / std
    with_mask = model.conv == "gated" or model.mask_channel
    if with_mask:
        x = torch.cat([x, mask], 1)
    if isinstance(model, PConvUNetWithStem):
        features = REFS[model.conv](model.stem, x, training)
        body = ref_unet(model.body, torch.cat([features, mask], 1) if with_mask else features, training)
        out = REFS[model.conv](model.head, torch.cat([body, x], 1), training)
    else:
        out = ref_unet(model, x, training)
    return out if mean is None else out * std + mean


STEM = PConvUNetWithStem
NETWORKS = [
    pytest.param(PConvUNet, dict(layers=2, conv="plain"), id="plain"),
    pytest.param(PConvUNet, dict(layers=3, conv="plain", hole_value="imagenet", upsampling="bilinear"), id="mean"),
    pytest.param(PConvUNet, dict(layers=3, conv="plain", mask_channel=True, hole_value=0.0), id="plain+mask"),
    pytest.param(PConvUNet, dict(layers=3, conv="gated"), id="gated"),
    pytest.param(
        PConvUNet, dict(layers=2, conv="gated", hole_value="imagenet", normalize=(IMAGENET, (0.229, 0.224, 0.225))),
        id="gated-normalized",
    ),
    pytest.param(STEM, dict(layers=2, conv="plain", stem_channels=3, normalize=(0.5, 0.5)), id="stem-plain"),
    pytest.param(STEM, dict(layers=2, conv="plain", stem_channels=3, mask_channel=True), id="stem-plain+mask"),
    pytest.param(STEM, dict(layers=2, conv="gated", stem_channels=3), id="stem-gated"),
]  # fmt: skip


@pytest.mark.parametrize("cls, kwargs", NETWORKS)
@pytest.mark.parametrize("training", [False, True])
def test_a_network_is_its_wiring_spelled_out(cls, kwargs, training):
    torch.manual_seed(0)
    model = cls(base_channels=4, max_channels=8, **kwargs).to(D)
    randomise_bn(model)
    model.train(training)
    image, mask = torch.rand(2, 3, 16, 24, dtype=D), random_masks(2, 16, 24, hole=0.4).to(D)
    image = torch.where(mask > 0, image, torch.nan)  # what the holes hold never matters
    with torch.no_grad():
        want = ref_network(model, torch.nan_to_num(image), mask, training)
        output, output_mask = model(image, mask)
    # float64 throughout; the constants (hole_value, normalize) are float32 buffers, hence not 1e-12
    torch.testing.assert_close(output, want, rtol=1e-6, atol=1e-7)
    assert output_mask.shape == mask.shape and bool((output_mask == 1).all())  # no mask update


@pytest.mark.parametrize("kwargs", VARIANTS, ids=VARIANT_IDS)
def test_the_variants_use_the_papers_places_and_widths(kwargs):
    torch.manual_seed(0)
    paper = PConvUNet(layers=3, base_channels=4)
    torch.manual_seed(0)
    model = PConvUNet(layers=3, base_channels=4, **kwargs)
    ours, theirs = model.state_dict(), paper.state_dict()
    # the same layers, BatchNorm and biases in the same places; gated convolutions keep a bias everywhere
    biases = [k.replace("weight", "bias") for k in theirs if k.endswith("conv.weight")]
    assert set(ours) == set(theirs) | (set(biases) if kwargs["conv"] == "gated" else set())
    if kwargs["conv"] == "plain":
        assert list(ours) == list(theirs)  # in the same order, too
    else:
        assert all(ours[b].shape == (2 * theirs[b.replace("bias", "weight")].shape[0],) for b in biases)
    extra = int(model.mask_input)
    for key, value in theirs.items():
        want = list(value.shape)
        if key.endswith("conv.weight") or key.endswith("conv.bias"):
            if kwargs["conv"] == "gated":
                want[0] *= 2  # features and gates
            if key.endswith("weight") and key in ("encoder.0.conv.weight", "decoder.2.block.conv.weight"):
                want[1] += extra  # the mask channel of the input and of the depth-0 skip
        assert list(ours[key].shape) == want, key
    if kwargs == {"conv": "plain"}:  # same shapes, same initialisation order: the same weights
        assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    assert model.decoder[-1].block.conv.out_channels == 3 * (2 if kwargs["conv"] == "gated" else 1)


def test_hole_value_can_be_changed_after_training_and_is_recorded():
    torch.manual_seed(0)
    model = PConvUNet(layers=2, base_channels=4, conv="plain").eval()
    image, mask = torch.rand(1, 3, 8, 8), random_masks(1, 8, 8, hole=0.5)
    outputs = {}
    for value in (0.0, 0.5, "imagenet", 1):
        model.hole_value = value
        assert model.hole_value == model.config["hole_value"] == (value if value == "imagenet" else float(value))
        outputs[str(value)] = model(image, mask)[0]
        fill = model.hole_fill.view(-1).tolist()
        assert fill == pytest.approx(list(IMAGENET) if value == "imagenet" else [float(value)] * 3)
    assert not torch.equal(outputs["0.0"], outputs["0.5"]) and not torch.equal(outputs["0.5"], outputs["imagenet"])
    with pytest.raises(ValueError, match="hole_value must be a float in"):
        model.hole_value = 2.0
    assert model.hole_value == 1.0  # a refused value changes nothing
    model = model.double()
    model.hole_value = 0.25
    assert model.hole_fill.dtype == D  # the derived buffer follows the model's dtype
    assert "hole_fill" not in model.state_dict()  # derived from config, not saved


@pytest.mark.parametrize("cls", [PConvUNet, PConvUNetWithStem])
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(conv="Partial"), r"conv must be one of 'partial', 'plain', 'gated'.*got 'Partial'"),
        (dict(conv=None), r"conv must be one of .*got None"),
        (dict(conv="plain", hole_value=-0.1), r"hole_value must be a float in \[0, 1\].*'imagenet'.*got -0.1"),
        (dict(conv="plain", hole_value=1.5), r"hole_value must be .*got 1.5"),
        (dict(conv="plain", hole_value=math.nan), r"hole_value must be .*got nan"),
        (dict(conv="gated", hole_value="mean"), r"hole_value must be .*got 'mean'"),
        (dict(conv="plain", hole_value=True), r"hole_value must be .*got True"),
        (dict(conv="plain", hole_value=[0.5, 0.5, 0.5]), r"hole_value must be .*got \[0.5"),
        (dict(conv="plain", hole_value="imagenet", in_channels=1), r"hole_value='imagenet' needs 3 image channels"),
        (dict(conv="plain", mask_channel="yes"), r"mask_channel must be True or False, got 'yes'"),
        (dict(conv="plain", mask_channel=1), r"mask_channel must be True or False, got 1"),
        (dict(mask_channel=True), r"mask_channel=True applies to conv='plain' only.*partial convolutions carry"),
        (dict(conv="gated", mask_channel=True), r"applies to conv='plain' only, got conv='gated'.*always takes the"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_with_the_choices(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cls(layers=2, base_channels=4, **kwargs)


@pytest.mark.parametrize("kwargs", VARIANTS, ids=VARIANT_IDS)
def test_the_inpainter_entry_works_for_every_variant(kwargs):
    torch.manual_seed(0)
    model = PConvUNet(layers=3, base_channels=4, max_channels=8, **kwargs)
    image, mask = torch.rand(2, 3, 13, 11), random_masks(2, 13, 11)
    result = model.inpaint(image, mask)  # any size: padded and cropped back
    assert result.shape == image.shape and torch.equal(result * mask, image * mask)
    assert bool(((result >= 0) & (result <= 1)).all())
    with pytest.raises(ValueError, match="binary"):
        model(torch.rand(1, 3, 8, 8), torch.full((1, 1, 8, 8), 0.5))
    with pytest.raises(ValueError, match="span"):
        model(torch.rand(1, 3, 8, 8) * 255, torch.ones(1, 1, 8, 8))
    model.freeze_encoder_bn(True).train()
    bns = [m for m in model.encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(not bn.training and not bn.weight.requires_grad for bn in bns)


# ----------------------------------------------------------------------------- checkpoints and training


@pytest.mark.parametrize("cls", [PConvUNet, PConvUNetWithStem])
@pytest.mark.parametrize("kwargs", VARIANTS, ids=VARIANT_IDS)
def test_every_variant_saves_and_reloads_through_a_checkpoint_file(tmp_path, cls, kwargs):
    torch.manual_seed(0)
    extra = dict(stem_channels=2) if cls is PConvUNetWithStem else {}
    model = cls(layers=2, base_channels=4, **kwargs, **extra).eval()
    model.hole_value = "imagenet"  # changed after training: the checkpoint records the new value
    path = save_checkpoint(
        {"step": 1, "model": model.state_dict(), "config": {"model": model_info(model)}}, tmp_path / "m.pt"
    )
    kw = load_checkpoint(path)["config"]["model"]["kwargs"]
    assert (kw["conv"], kw["hole_value"], kw["mask_channel"]) == (
        kwargs["conv"],
        "imagenet",
        kwargs.get("mask_channel", False),
    )
    rebuilt = model_from_checkpoint(path)
    assert type(rebuilt) is cls and rebuilt.config == model.config and rebuilt.hole_value == "imagenet"
    image, mask = torch.rand(2, 3, 8, 8), random_masks(2, 8, 8)
    assert torch.equal(rebuilt(image, mask)[0], model(image, mask)[0])


@pytest.mark.parametrize("kwargs", VARIANTS, ids=VARIANT_IDS)
def test_every_variant_trains_with_the_inpainting_loss_and_resumes(tmp_path, monkeypatch, kwargs):
    # The sample figure (seconds of matplotlib per run) is the trainer's own, tested in tests/train.
    monkeypatch.setattr(Trainer, "_samples", lambda self, batch: None)

    def fit(steps: int, resume: bool) -> Trainer:
        torch.manual_seed(0)
        model = PConvUNet(layers=2, base_channels=4, **kwargs)
        trainer = Trainer(model, InpaintingLoss(vgg=None), cfg(tmp_path, steps=steps, checkpoint_every=2))
        trainer.fit(Pairs(n=8), Pairs(n=4), resume=resume)
        return trainer

    first = fit(2, resume=False)
    ckpt = load_checkpoint(tmp_path / "run" / "ckpt_2.pt")
    assert ckpt["config"]["model"] == model_info(first.model)
    assert all(math.isfinite(row["loss/total"]) for row in first.history if "loss/total" in row)
    assert math.isfinite(first.history[-1]["val/psnr"])  # validation ran the variant too
    start = {k: v.clone() for k, v in ckpt["model"].items()}
    second = fit(3, resume=True)
    assert second.step == 3 and load_checkpoint(tmp_path / "run" / "ckpt_3.pt")["step"] == 3
    after = second.model.state_dict()
    assert any(not torch.equal(after[k], start[k]) for k in start if after[k].is_floating_point())  # it trained on
