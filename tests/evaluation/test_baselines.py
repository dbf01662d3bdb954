"""Tests for pconv.evaluation.baselines and every fill it lists (PatchMatch too): known pixels kept exactly,
holes filled, values under holes ignored (NaN too), shapes, OpenCV errors, and harmonic_fill against plain
Jacobi sweeps of Laplace's equation."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from skimage import data

from pconv.evaluation import baselines
from pconv.evaluation.baselines import (
    available_baselines,
    biharmonic,
    harmonic,
    mean_fill,
    navier_stokes,
    telea,
)
from pconv.evaluation.fill_contract import ALL_HOLE_GREY

ALL_NAMES = ["biharmonic", "harmonic", "telea", "navier_stokes", "patchmatch", "mean_fill"]


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
    assert names[1] == "harmonic" and names == [n for n in ALL_NAMES if n in names]  # this order, some left out


@pytest.mark.parametrize("name", ALL_NAMES)
def test_keeps_known_pixels_and_fills_holes(name, image, mask):
    if name not in available_baselines():
        pytest.skip(f"{name} needs a package that is not installed (OpenCV or PyPatchMatch)")
    fn = available_baselines()[name]
    marked = image.clone()
    marked[mask.expand_as(image) == 0] = 1.0  # garbage in the holes must not leak through
    out = fn(marked, mask)
    nan = image.clone()
    nan[mask.expand_as(image) == 0] = float("nan")  # nor NaN: the fill never sees it
    assert torch.isfinite(fn(nan, mask)).all()
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
    before = list(available_baselines())
    monkeypatch.setitem(sys.modules, "cv2", None)  # makes `import cv2` raise ImportError
    for fn in (telea, navier_stokes):
        with pytest.raises(ImportError, match="pip install opencv-python-headless"):
            fn(image, mask)
    assert list(available_baselines()) == [n for n in before if n not in ("telea", "navier_stokes")]
    assert baselines.mean_fill(image, mask).shape == image.shape


def _jacobi_reference(image: np.ndarray, hole: np.ndarray, sweeps: int) -> np.ndarray:
    """Laplace's equation in the holes by plain Jacobi sweeps from zero, borders replicated (slow, obvious)."""
    u = np.where(hole, 0.0, image)
    for _ in range(sweeps):
        p = np.pad(u, 1, mode="edge")
        mean = (p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:]) / 4
        u = np.where(hole, mean, image)
    return u


def test_harmonic_fill_converges_to_the_discrete_harmonic_interpolation():
    rng = np.random.default_rng(0)
    image = rng.random((16, 16))
    hole = np.zeros((16, 16), bool)
    hole[4:11, 3:9] = True  # a block
    hole[13, :] = True  # a full-width stripe
    hole[0, 0] = True  # a corner pixel
    reference = _jacobi_reference(image, hole, sweeps=4000)
    x = torch.from_numpy(image).float()[None, None].repeat(1, 3, 1, 1)
    mask = torch.from_numpy(~hole).float()[None, None]
    converged = baselines.harmonic_fill(x, mask, smoothing=300)[0]
    assert np.abs(converged.numpy() - reference).max() < 1e-4
    quick = baselines.harmonic_fill(x, mask)[0]  # default: 4 steps per level, close but not converged
    pull_push = baselines.harmonic_fill(x, mask, smoothing=0)[0]
    error = {k: np.abs(v.numpy() - reference)[:, hole].mean() for k, v in (("quick", quick), ("pp", pull_push))}
    assert error["quick"] < 0.02 and error["quick"] < 0.5 * error["pp"]
    assert torch.equal(quick[:, ~torch.from_numpy(hole)], x[0][:, ~torch.from_numpy(hole)])  # known pixels exact


def test_harmonic_fill_single_pixel_constant_and_empty_images():
    x = torch.rand(2, 3, 8, 8)
    mask = torch.ones(1, 1, 8, 8)
    mask[..., 3, 4] = 0
    out = baselines.harmonic_fill(x, mask, smoothing=1)
    neighbours = (x[..., 2, 4] + x[..., 4, 4] + x[..., 3, 3] + x[..., 3, 5]) / 4
    assert torch.allclose(out[..., 3, 4], neighbours, atol=1e-6)
    holes = (torch.rand(2, 1, 8, 8) > 0.3).float()
    assert torch.allclose(
        baselines.harmonic_fill(torch.full((2, 3, 8, 8), 0.25), holes), torch.full((2, 3, 8, 8), 0.25)
    )
    assert torch.equal(baselines.harmonic_fill(x, torch.zeros(2, 1, 8, 8)), torch.zeros_like(x))  # nothing known: zeros
    odd = baselines.harmonic_fill(
        torch.rand(1, 3, 7, 5), (torch.rand(1, 1, 7, 5) > 0.5).float()
    )  # odd sizes: ceil pooling
    assert odd.shape == (1, 3, 7, 5) and torch.isfinite(odd).all()


@pytest.mark.parametrize("junk", [float("nan"), float("inf"), -float("inf")])
def test_harmonic_fill_ignores_nan_and_inf_under_holes(junk):
    x = torch.rand(2, 3, 16, 12)
    mask = (torch.rand(2, 1, 16, 12) > 0.4).float()
    clean = baselines.harmonic_fill(x, mask)
    dirty = baselines.harmonic_fill(torch.where(mask > 0, x, junk), mask)
    assert torch.isfinite(dirty).all() and torch.equal(dirty, clean)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_every_baseline_on_an_all_hole_and_an_all_valid_mask(name, image, mask):
    fn = available_baselines().get(name) or pytest.skip(f"{name} needs OpenCV or PyPatchMatch")
    assert torch.equal(fn(image, torch.ones(2, 1, 48, 40)), image)  # nothing to fill: the image, exactly
    assert torch.equal(fn(image[0], torch.zeros(1, 48, 40)), torch.full_like(image[0], ALL_HOLE_GREY))
    mixed = torch.cat([torch.zeros(1, 1, 48, 40), mask[1:]])  # one image all hole, one with an ordinary hole
    out = fn(image, mixed)
    assert torch.equal(out[0], torch.full_like(image[0], ALL_HOLE_GREY))
    assert torch.equal(out[1], fn(image[1], mask[1]))  # the other image of the batch is filled as on its own
    junk = image.clone()
    junk[0] = float("nan")  # values under an all-hole mask never reach the fill
    assert torch.equal(fn(junk, mixed), out)
