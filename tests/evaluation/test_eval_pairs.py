"""Tests for pconv.evaluation.eval_pairs: which image meets which mask, at which size, in which bin.

The pairing rule (pair k = image k % I with mask k % M), the center-crop-and-resize of an
image to its mask's size, every image and mask form a user can pass, and the binning of a
bare mask by the shared hole-bin rule.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from eval_standins import square_mask

import pconv.evaluation.eval_pairs as eval_pairs
from pconv.evaluation.eval_pairs import fit_image, image_at, mask_entry, pair_images_with_masks, same_size_batches

PAPER_LABELS = ["1-10%", "10-20%", "20-30%", "30-40%", "40-50%", "50-60%"]


def test_image_at_reads_every_form_of_image():
    image = torch.rand(3, 5, 7)
    hwc = (image.permute(1, 2, 0) * 255).round().to(torch.uint8)  # (5, 7, 3) bytes
    for images in (image[None], [image], [{"image": image}], [(image, "label")], [image[None]]):
        assert torch.equal(image_at(images, 0), image)
    from_bytes = image_at([hwc], 0)
    assert from_bytes.shape == (3, 5, 7) and from_bytes.dtype == torch.float32
    assert torch.allclose(from_bytes, image, atol=0.5 / 255 + 1e-6)
    assert torch.equal(image_at([np.zeros((3, 4, 4), np.float32)], 0), torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match=r"images\[0\] must be a \(3, H, W\) image, got shape \(1, 4, 4\)"):
        image_at([torch.zeros(1, 4, 4)], 0)


def test_fit_image_center_crops_to_the_aspect_then_resizes():
    image = torch.rand(3, 20, 30)
    assert fit_image(image, (20, 30)) is image  # the mask's size already
    # same height, narrower: the middle 20 columns, no resizing needed
    assert torch.allclose(fit_image(image, (20, 20)), image[:, :, 5:25], atol=1e-6)
    # same width, flatter: the middle 10 rows
    assert torch.allclose(fit_image(image, (10, 30)), image[:, 5:15, :], atol=1e-6)
    # a true resize: the center crop resized by bilinear antialiased interpolation, kept in [0, 1]
    out = fit_image(image, (8, 8))
    expected = F.interpolate(image[None, :, :, 5:25], size=(8, 8), mode="bilinear", antialias=True)[0]
    assert out.shape == (3, 8, 8) and torch.allclose(out, expected.clamp(0, 1), atol=1e-6)
    assert 0 <= out.min() and out.max() <= 1
    flat = torch.full((3, 40, 60), 0.25)
    assert torch.allclose(fit_image(flat, (12, 12)), torch.full((3, 12, 12), 0.25), atol=1e-6)


def test_mask_entry_binarises_and_bins():
    soft = square_mask(10, 5) * 0.9 + 0.05  # 0.05 under the hole, 0.95 elsewhere
    mask, label = mask_entry(soft[0], [(0.2, 0.3)])  # a bare (H, W) mask, 25% holes
    assert mask.shape == (1, 10, 10) and set(mask.unique().tolist()) == {0.0, 1.0} and label == "20-30%"
    assert mask_entry((soft, (0.1, 0.2)), [])[1] == "10-20%"  # a given bin is its label, whatever the ratio
    assert mask_entry((soft, "mine"), [])[1] == "mine"
    assert mask_entry((soft, None), [(0.3, 0.4)])[1] == "other"  # outside every bin
    with pytest.raises(ValueError, match=r"test masks must be \(1, H, W\), got shape \(2, 4, 4\)"):
        mask_entry(torch.ones(2, 4, 4), [])


def test_every_image_and_every_mask_is_used_once_at_least():
    images = torch.rand(2, 3, 8, 8)
    masks = [square_mask(8, 2), square_mask(8, 4), square_mask(8, 5)]  # 1/16, 1/4, 25/64 holes
    pairs, labels = pair_images_with_masks(images, masks)
    assert [i for i, _, _ in pairs] == [0, 1, 0] and [lab for _, _, lab in pairs] == ["1-10%", "20-30%", "30-40%"]
    assert labels == PAPER_LABELS
    pairs, _ = pair_images_with_masks(torch.rand(3, 3, 8, 8), masks[:1])
    assert [i for i, _, _ in pairs] == [0, 1, 2] and all(torch.equal(m, masks[0]) for _, m, _ in pairs)
    _, labels = pair_images_with_masks(images, [(masks[0], "zz"), (masks[1], "aa"), square_mask(8, 8)])
    assert labels == [*PAPER_LABELS, "aa", "other", "zz"]  # the paper's bins first, then the rest sorted
    with pytest.raises(ValueError, match="masks is empty"):
        pair_images_with_masks(images, [])
    with pytest.raises(ValueError, match="images is empty"):
        pair_images_with_masks(images[:0], masks)


def test_a_mask_folder_is_read_with_load_test_masks(monkeypatch, tmp_path):
    seen = []

    def fake_load(path):
        seen.append(path)
        return [(square_mask(8, 4), (0.2, 0.3))]

    monkeypatch.setattr(eval_pairs, "load_test_masks", fake_load)
    pairs, _ = pair_images_with_masks(torch.rand(1, 3, 8, 8), tmp_path)
    assert seen == [tmp_path] and [lab for _, _, lab in pairs] == ["20-30%"]


def test_batches_end_at_the_batch_size_and_where_the_mask_size_changes():
    sizes = [8, 8, 8, 4, 4, 8]
    pairs = [(k, square_mask(s, 1), "x") for k, s in enumerate(sizes)]
    runs = [[k for k, _, _ in run] for run in same_size_batches(pairs, 2)]
    assert runs == [[0, 1], [2], [3, 4], [5]]
    assert [len(r) for r in same_size_batches(pairs[:3], 8)] == [3] and list(same_size_batches([], 2)) == []
