"""pconv.nn.unet: the segmentation U-Net (Ronneberger et al. 2015) at any size."""

from __future__ import annotations

import pytest
import torch

from pconv.nn import UNet


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
