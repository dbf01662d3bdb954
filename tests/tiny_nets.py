"""Small networks and random masks shared by the model tests (tests/nn/): seconds on a CPU."""

from __future__ import annotations

import torch

from pconv.nn import PConvUNet


def tiny_pconv_unet(**kw) -> PConvUNet:
    """A seeded 3-layer PConvUNet with 4 to 8 channels; `kw` overrides the constructor's arguments."""
    torch.manual_seed(0)
    return PConvUNet(**{"layers": 3, "base_channels": 4, "max_channels": 8, **kw})


def random_masks(n: int, h: int, w: int, hole: float = 0.3, seed: int = 0) -> torch.Tensor:
    """(n, 1, h, w) binary masks, 1 = valid, about `hole` of the pixels holes."""
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, h, w, generator=gen) > hole).float()
