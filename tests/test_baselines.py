"""Tests for pconv.baselines: known pixels kept exactly, holes filled, shapes, OpenCV errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from skimage import data

from pconv import baselines
from pconv.baselines import available_baselines, biharmonic, harmonic, mean_fill, navier_stokes, telea


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    """Two 48x40 crops of the astronaut, (2, 3, 48, 40) in [0, 1]."""
    photo = torch.from_numpy(data.astronaut().astype(np.float32) / 255).permute(2, 0, 1)
    return torch.stack([photo[:, 100:148, 200:240], photo[:, 250:298, 300:340]])


@pytest.fixture(scope="module")
def mask() -> torch.Tensor:
    m = torch.ones(2, 1, 48, 40)
    m[0, :, 10:25, 5:30] = 0
    m[1, :, 30:46, 2:12] = 0
    m[1, :, 0:4, 0:40] = 0  # a hole touching the border
    return m


def test_available_names():
    names = list(available_baselines())
    assert names[0] == "biharmonic" and names[-1] == "mean_fill"
    assert names[1] == "harmonic" and set(names) <= {"biharmonic", "harmonic", "telea", "navier_stokes", "mean_fill"}


@pytest.mark.parametrize("name", ["biharmonic", "harmonic", "telea", "navier_stokes", "mean_fill"])
def test_keeps_known_pixels_and_fills_holes(name, image, mask):
    if name not in available_baselines():
        pytest.skip("OpenCV is not installed")
    fn = available_baselines()[name]
    marked = image.clone()
    marked[mask.expand_as(image) == 0] = 1.0  # garbage in the holes must not leak through
    out = fn(marked, mask)
    assert out.shape == image.shape and out.dtype == image.dtype
    known = mask.expand_as(image) == 1
    assert torch.equal(out[known], image[known])
    assert out.min() >= 0 and out.max() <= 1
    holes = out[~known]
    assert (holes - 1.0).abs().mean() > 0.1  # the white garbage was replaced
    # a smooth region is filled with something close to the truth
    err = (out - image).abs()[~known].mean()
    assert err < 0.25


def test_single_image_and_broadcast_mask(image, mask):
    out = mean_fill(image[0], mask[0])
    assert out.shape == (3, 48, 40)
    hole = mask[0, 0] == 0
    colour = image[0][:, ~hole].mean(dim=1)  # (3,) mean of the valid pixels
    assert torch.allclose(out[:, hole], colour[:, None].expand(-1, int(hole.sum())), atol=1e-6)
    both = biharmonic(image, mask[:1])  # one mask for the whole batch
    assert both.shape == image.shape
    assert harmonic(image[0], mask[0]).shape == (3, 48, 40) and harmonic(image, mask[:1]).shape == image.shape


def test_all_hole_and_no_hole(image):
    none = torch.ones(1, 48, 40)
    assert torch.equal(mean_fill(image[0], none), image[0])
    everything = torch.zeros(1, 48, 40)
    assert torch.allclose(mean_fill(image[0], everything), torch.full_like(image[0], 0.5))


def test_bad_inputs(image, mask):
    with pytest.raises(ValueError, match="image must be"):
        mean_fill(image[:, :1], mask)
    with pytest.raises(ValueError, match="mask must be"):
        mean_fill(image, mask[:, :, :10])
    with pytest.raises(ValueError, match="binary"):
        mean_fill(image, mask * 0.5)
    with pytest.raises(ValueError, match="binary"):
        harmonic(image, mask * 0.5)


def test_opencv_missing_gives_clear_error(monkeypatch, image, mask):
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` raise ImportError
    for fn in (telea, navier_stokes):
        with pytest.raises(ImportError, match="pip install opencv-python-headless"):
            fn(image, mask)
    assert list(available_baselines()) == ["biharmonic", "harmonic", "mean_fill"]
    assert baselines.mean_fill(image, mask).shape == image.shape
