"""Tests for pconv.evaluation.fill_contract: what a per-image numpy filler receives and what becomes of its
output (the composite), the all-hole and no-hole cases, the input checks and the shared docstring."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pconv.evaluation.fill_contract import ALL_HOLE_GREY, apply_filler, check_inputs, fill_doc


def recording_filler(calls: list):
    """A filler that records its inputs and returns 2 everywhere (out of range: the composite must clamp)."""

    def fill(img: np.ndarray, hole: np.ndarray) -> np.ndarray:
        calls.append((img.copy(), hole.copy()))
        return np.full_like(img, 2.0)

    return fill


def test_the_filler_sees_one_image_channels_last_with_zeros_under_the_holes():
    image = torch.rand(2, 3, 6, 5)
    mask = torch.ones(2, 1, 6, 5)
    mask[0, :, 1:3, 2:4] = 0
    mask[1, :, 4:, :] = 0
    dirty = torch.where(mask > 0, image, torch.tensor(float("nan")))
    calls: list = []
    out = apply_filler(dirty, mask, recording_filler(calls))
    assert len(calls) == 2
    for k, (img, hole) in enumerate(calls):
        assert img.dtype == np.float64 and img.shape == (6, 5, 3) and hole.dtype == bool and hole.shape == (6, 5)
        assert np.array_equal(hole, (mask[k, 0] == 0).numpy())
        assert (img[hole] == 0).all()  # NaN never reaches a filler
        assert np.array_equal(img[~hole], image[k].permute(1, 2, 0).double().numpy()[~hole])
    known = mask.expand_as(image) > 0
    assert torch.equal(out[known], image[known]) and (out[~known] == 1).all()  # the filler's 2 clamped to 1


def test_a_filler_is_not_called_without_a_hole_or_without_a_known_pixel():
    image = torch.rand(3, 4, 4, dtype=torch.float64)
    calls: list = []
    assert torch.equal(apply_filler(image, torch.ones(1, 4, 4), recording_filler(calls)), image)
    grey = apply_filler(image, torch.zeros(1, 4, 4), recording_filler(calls))
    assert calls == [] and grey.dtype == torch.float64 and torch.equal(grey, torch.full_like(image, ALL_HOLE_GREY))


def test_check_inputs_batches_and_expands():
    image, mask, single = check_inputs(torch.rand(3, 4, 5), torch.ones(1, 4, 5))
    assert single and image.shape == (1, 3, 4, 5) and mask.shape == (1, 1, 4, 5)
    image, mask, single = check_inputs(torch.rand(2, 3, 4, 5), torch.ones(1, 1, 4, 5))
    assert not single and mask.shape == (2, 1, 4, 5)
    with pytest.raises(ValueError, match=r"image must be \(3, H, W\) or \(N, 3, H, W\), got shape \(2, 1, 4, 5\)"):
        check_inputs(torch.rand(2, 1, 4, 5), torch.ones(2, 1, 4, 5))
    with pytest.raises(ValueError, match=r"mask must be .* matching the image size \(4, 5\), got shape \(2, 1, 4, 4\)"):
        check_inputs(torch.rand(2, 3, 4, 5), torch.ones(2, 1, 4, 4))
    with pytest.raises(ValueError, match="mask batch 3 does not match image batch 2"):
        check_inputs(torch.rand(2, 3, 4, 5), torch.ones(3, 1, 4, 5))
    with pytest.raises(ValueError, match="binary"):
        check_inputs(torch.rand(2, 3, 4, 5), torch.full((2, 1, 4, 5), 0.5))


def test_fill_doc_appends_the_shared_args():
    @fill_doc
    def fill(image, mask):
        """A fill."""

    assert fill.__doc__.startswith("A fill.\n") and "mask: (N|1, 1, H, W) or (1, H, W), 1 = valid" in fill.__doc__
