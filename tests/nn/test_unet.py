"""pconv.nn.unet: the segmentation U-Net (Ronneberger et al. 2015) at any size, with zero or
partial-convolution based padding (Liu et al. 2018, arXiv:1811.11718) checked against a plain
re-implementation: window area / valid count at the border, from a convolution of ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from plain_padding import plain_unet

from pconv.data import SyntheticShapesDataset
from pconv.nn import UNet, bce_dice_loss
from pconv.nn.blocks import PartialPadConv2d
from pconv.train import TrainConfig, Trainer, load_checkpoint, model_from_checkpoint

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoints"


def test_classic_widths_give_the_classic_parameter_count():
    # (64, 128, 256, 512) with transposed-conv up and BatchNorm: the 31.04M of milesial/Pytorch-UNet
    assert sum(p.numel() for p in UNet().parameters()) == 31_037_633


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


# ---- padding="partial": partial-convolution based padding (Liu et al. 2018, arXiv:1811.11718)


def warm_bn(net: torch.nn.Module, image: torch.Tensor) -> torch.nn.Module:
    """Eval mode with BatchNorm statistics of a random batch, so that they are not the identity."""
    for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.momentum = 1.0  # the running statistics become this batch's
    with torch.no_grad():
        net.train()(image * 3 - 1)
    return net.eval()


def twin(net: torch.nn.Module, **kwargs) -> torch.nn.Module:
    """The same network with padding="zeros" and the same weights (the state dicts share their keys)."""
    other = type(net)(**kwargs).eval()
    other.load_state_dict(net.state_dict())  # strict
    return other


@pytest.mark.parametrize("bilinear", [False, True])
@pytest.mark.parametrize("h, w", [(64, 64), (61, 67)])
def test_unet_with_partial_padding_is_the_plain_reimplementation(bilinear, h, w):
    torch.manual_seed(2)
    kwargs = dict(in_channels=3, out_channels=2, features=(4, 8), bilinear=bilinear)
    image = torch.rand(2, 3, h, w)
    net = warm_bn(UNet(**kwargs, padding="partial"), torch.rand(4, 3, h, w))
    with torch.no_grad():
        got = net(image)
        torch.testing.assert_close(got, plain_unet(image, net), rtol=1e-5, atol=1e-5)
        want = twin(net, **kwargs)(image)
    assert got.shape == (2, 2, h, w)
    # The border's reach: 2 px per two 3x3 convolutions at each scale (4 at 1/4 -> 16 px), back up to
    # 22 px, one more per bilinear upsampling and for odd sizes: measured 23 px (26 bilinear) here.
    m = 28
    assert torch.equal(got[..., m:-m, m:-m], want[..., m:-m, m:-m])
    assert not torch.allclose(got[..., :2, :], want[..., :2, :])  # the border is re-weighted


def test_zero_padding_is_the_classic_network():
    net = UNet(features=(4, 8))
    assert net.config["padding"] == "zeros"
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and not any(isinstance(m, PartialPadConv2d) for m in convs)  # plain nn.Conv2d, as before
    partial = UNet(features=(4, 8), padding="partial")
    assert sum(isinstance(m, PartialPadConv2d) for m in partial.modules()) == 2 * 5  # every 3x3 convolution
    assert {k: v.shape for k, v in net.state_dict().items()} == {k: v.shape for k, v in partial.state_dict().items()}


def test_bad_padding_names_the_choices():
    with pytest.raises(ValueError, match=r"padding must be 'zeros' .* or 'partial' .*got 'reflect'"):
        UNet(padding="reflect")


def test_old_checkpoint_without_padding_loads_as_zeros():
    ckpt = load_checkpoint(FIXTURES / "unet.pt")  # written before `padding` existed
    assert "padding" not in ckpt["config"]["model"]["kwargs"]
    model = model_from_checkpoint(ckpt)
    assert model.config["padding"] == "zeros"
    io = torch.load(FIXTURES / "unet.io.pt", weights_only=True)
    with torch.no_grad():
        torch.testing.assert_close(model(io["image"]), io["output"], rtol=0, atol=1e-6)


def test_trainer_trains_partial_padding_and_the_checkpoint_round_trips(tmp_path):
    torch.manual_seed(3)
    net = UNet(features=(4, 8), padding="partial")
    data = SyntheticShapesDataset((24, 20), length=8, split="train", seed=0)
    val = SyntheticShapesDataset((24, 20), length=4, split="val", seed=0)
    config = TrainConfig(
        steps=3,
        batch_size=4,
        lr=1e-2,
        size=[24, 20],
        device="cpu",
        out=str(tmp_path / "run"),
        val_every=3,
        sample_every=100,
        checkpoint_every=3,
        num_workers=0,
        progress=False,
    )
    before = {k: v.clone() for k, v in net.state_dict().items()}
    trainer = Trainer(net, bce_dice_loss, config)
    history = trainer.fit(data, val)
    assert trainer.step == 3 and "val/dice" in history[-1]
    assert any(not torch.equal(before[k], v) for k, v in net.state_dict().items())  # it learned something
    ckpt = load_checkpoint(tmp_path / "run" / "ckpt_3.pt")
    assert ckpt["config"]["model"] == {"name": "UNet", "kwargs": {**net.config, "features": [4, 8]}}
    loaded = model_from_checkpoint(ckpt)
    assert loaded.config["padding"] == "partial"
    image = torch.rand(2, 3, 24, 20)
    with torch.no_grad():
        assert torch.equal(loaded(image), net.eval()(image))
