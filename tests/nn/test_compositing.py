"""Tests for pconv.nn.compositing: the one composite (Liu et al. 2018, Sec. 3.3), I_comp = M * I_gt + (1 - M) * I_out.

On finite values it equals the paper's product form written plainly here; NaN or inf under a
hole, in the image or in the output, never reaches a known pixel (the product form would let
it through: 0 * NaN is NaN); a (N, 1, H, W) mask broadcasts over channels.
"""

from __future__ import annotations

import pytest
import torch

from pconv.nn import composite


def paper(image: torch.Tensor, mask: torch.Tensor, output: torch.Tensor) -> torch.Tensor:
    return mask * image + (1 - mask) * output


def binary(*shape: int, seed: int = 0) -> torch.Tensor:
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) > 0.5).float()


def test_equals_the_paper_formula_on_finite_values():
    image, output = torch.rand(2, 3, 8, 9), torch.rand(2, 3, 8, 9)
    for mask in (binary(2, 3, 8, 9), binary(2, 1, 8, 9), binary(1, 1, 8, 9), torch.ones(2, 1, 8, 9)):
        assert torch.equal(composite(image, mask, output), paper(image, mask, output))
    single = composite(image[0], binary(1, 8, 9), output[0])  # (C, H, W) and a (1, H, W) mask
    assert torch.equal(single, paper(image[0], binary(1, 8, 9), output[0]))


@pytest.mark.parametrize("junk", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_values_under_holes_never_reach_known_pixels(junk):
    image, output, mask = torch.rand(2, 3, 8, 9), torch.rand(2, 3, 8, 9), binary(2, 1, 8, 9)
    known = mask.expand_as(image) > 0
    dirty_image = torch.where(known, image, junk)  # junk in the image where the network fills in
    dirty_output = torch.where(known, junk, output)  # junk in the output where the image is kept
    got = composite(dirty_image, mask, dirty_output)
    assert torch.equal(got, paper(image, mask, output)) and torch.isfinite(got).all()
    assert not torch.isfinite(paper(dirty_image, mask, dirty_output)).all()  # why it is not the product


def test_a_one_channel_mask_broadcasts_over_channels():
    image, output = torch.zeros(2, 3, 4, 4), torch.ones(2, 3, 4, 4)
    mask = torch.ones(2, 1, 4, 4)
    mask[0, 0, 1, 2] = 0
    got = composite(image, mask, output)
    assert got.shape == (2, 3, 4, 4)
    assert got[0, :, 1, 2].eq(1).all() and got.sum() == 3  # every channel of that one pixel, nothing else


def test_dtypes_promote_and_the_mask_need_not_be_float():
    image, output = torch.rand(1, 3, 4, 4, dtype=torch.float64), torch.rand(1, 3, 4, 4).half()
    mask = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    mask[..., 0, 0] = False
    got = composite(image, mask, output)
    assert got.dtype == torch.float64 and torch.equal(got[..., 1:, :], image[..., 1:, :])
    assert torch.equal(got[..., 0, 0], output[..., 0, 0].double())
