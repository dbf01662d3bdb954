"""Tests for pconv.notebook.model_plots: the encoder's update masks, against the paper's rule written plainly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from figure_checks import assert_readable, framed

from pconv.nn import PConvUNet, PConvUNetWithStem
from pconv.notebook import plot_mask_updates


def paper_update(valid: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Liu et al. 2018, Eq. 2: m' = 1 where the window holds any valid input (zero padding is hole)."""
    pad = (kernel - 1) // 2
    count = F.conv2d(F.pad(valid, (pad, pad, pad, pad)), torch.ones(1, 1, kernel, kernel), stride=stride)
    return (count > 0).float()


def test_masks_shrink_as_the_paper_says_and_the_model_is_left_alone():
    torch.manual_seed(0)
    model = PConvUNet(layers=4, base_channels=4, max_channels=8).train()
    mask = torch.ones(1, 64, 64)
    mask[:, 10:40, 5:50] = 0  # a 30x45 hole
    mask[:, 50:52, 50:60] = 0
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fig = plot_mask_updates(model, torch.rand(3, 64, 64), mask)
    assert len(fig.axes) == 1 + 1 + 4  # the input, the encoder's input mask, one per layer
    assert model.training  # mode restored
    for key, value in model.state_dict().items():  # batch-norm statistics untouched
        assert torch.equal(value, before[key]), key

    expected, shown = [mask[None]], [np.asarray(ax.images[0].get_array()) for ax in fig.axes[1:]]
    for kernel in (7, 5, 5, 3):  # the paper's encoder kernels, stride 2
        expected.append(paper_update(expected[-1], kernel, 2))
    for k, (want, got) in enumerate(zip(expected, shown)):
        assert got.shape == tuple(want.shape[-2:]), k
        np.testing.assert_array_equal(got.astype(bool), want[0, 0].numpy() > 0.5, err_msg=f"stage {k}")
        assert f"{1 - want.mean().item():.1%} hole" in fig.axes[1 + k].get_title()
    assert expected[-1].mean() > expected[0].mean()  # the hole shrinks
    assert fig.axes[0].get_title().startswith("input, ")
    assert all(framed(ax) for ax in fig.axes[1:]) and not framed(fig.axes[0])  # masks framed, the photo not
    assert_readable(fig)


def test_the_paper_encoder_figure_fits_a_notebook_and_its_titles_do_not_overlap():
    model = PConvUNet(layers=7, base_channels=4, max_channels=8)
    mask = torch.ones(1, 128, 128)
    mask[:, 30:90, 20:100] = 0
    fig = plot_mask_updates(model, torch.rand(3, 128, 128), mask)
    assert len(fig.axes) == 9 and fig.get_size_inches()[0] <= 12.0 + 1e-6  # it was 18 inches: text shrunk to 6 px
    assert_readable(fig)


def test_a_batch_of_one_and_the_errors():
    model = PConvUNetWithStem(layers=2, base_channels=4, max_channels=8, stem_channels=4)
    mask = torch.ones(1, 1, 16, 16)
    mask[..., 4:12, 4:12] = 0
    fig = plot_mask_updates(model, torch.rand(1, 3, 16, 16), mask)
    # with a stem the encoder starts from the stem's mask: one 3x3 stride-1 update of the input
    stem = paper_update(mask, 3, 1)
    np.testing.assert_array_equal(np.asarray(fig.axes[1].images[0].get_array()).astype(bool), stem[0, 0] > 0.5)
    with pytest.raises(ValueError, match="`encoder` list"):
        plot_mask_updates(torch.nn.Linear(2, 2), torch.rand(3, 16, 16), mask[0])
    with pytest.raises(ValueError, match="image is"):
        plot_mask_updates(model, torch.rand(3, 16, 16), torch.ones(1, 8, 8))
