"""Tests for pconv.evaluation.patchmatch: the contract of every fill (known pixels exact, [0, 1], shapes,
batches), a periodic texture continued where a smooth fill cannot, the wrapper against PyPatchMatch called
directly, the seed, and the errors a user can hit."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch
from skimage import data

from pconv.evaluation import available_baselines, harmonic, patchmatch, psnr
from pconv.evaluation.patchmatch import PATCH_RADIUS, import_patchmatch

pm = pytest.importorskip("patchmatch", reason="PyPatchMatch (pip install pypatchmatch) is not installed")


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """Two 48x40 crops of the astronaut, (2, 3, 48, 40) in [0, 1], exactly representable in 8 bits."""
    p = torch.from_numpy(data.astronaut().astype(np.float32) / 255).permute(2, 0, 1)
    return torch.stack([p[:, 100:148, 200:240], p[:, 250:298, 300:340]])


@pytest.fixture(scope="module")
def holes() -> torch.Tensor:
    m = torch.ones(2, 1, 48, 40)
    m[0, :, 10:25, 5:30] = 0
    m[1, :, 30:46, 2:12] = 0
    m[1, :, 0:4, :] = 0  # a hole along the whole top border
    return m


def checkerboard(height: int, width: int) -> torch.Tensor:
    """Two colours in 3x5 cells: (3, H, W), a texture that repeats every 6 rows and 10 columns."""
    y, x = torch.arange(height)[:, None], torch.arange(width)[None]
    cell = ((y // 3 + x // 5) % 2).float()
    return torch.stack([0.1 + 0.8 * cell, 0.9 - 0.8 * cell, 0.2 + 0.4 * cell])


def test_listed_between_the_opencv_fills_and_mean_fill():
    names = list(available_baselines())
    assert available_baselines()["patchmatch"] is patchmatch
    assert names.index("patchmatch") == len(names) - 2 and names[-1] == "mean_fill"


def test_keeps_known_pixels_fills_holes_in_range(photo, holes):
    garbage = torch.where(holes > 0, photo, torch.tensor(float("nan")))  # NaN under the holes never reaches the fill
    out = patchmatch(garbage, holes)
    assert out.shape == photo.shape and out.dtype == photo.dtype
    known = holes.expand_as(photo) > 0
    assert torch.equal(out[known], photo[known])
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, patchmatch(torch.where(holes > 0, photo, 1.0), holes))  # whatever the holes hold
    assert (out - photo).abs()[~known].mean() < 0.2  # a photo's hole gets photo-like content


def test_continues_a_periodic_texture_where_a_smooth_fill_cannot():
    # The truth under the hole is known exactly: the checkerboard. Every patch that PatchMatch may
    # copy continues it; the harmonic fill can only blend the two colours into grey.
    image = checkerboard(48, 64)
    mask = torch.ones(1, 48, 64)
    mask[:, 14:34, 20:44] = 0  # 20x24: several cells wide, nowhere near the border
    hole = mask[0] == 0
    ours, smooth = patchmatch(image, mask), harmonic(image, mask)
    assert (ours - image).abs()[:, hole].mean() < 0.05
    assert (smooth - image).abs()[:, hole].mean() > 0.3
    assert psnr(ours[None], image[None]) > psnr(smooth[None], image[None]) + 10  # dB


def test_a_single_colour_is_filled_with_that_colour():
    colour = torch.tensor([51, 153, 204]) / 255  # exact in 8 bits
    image = colour[:, None, None].expand(3, 32, 32).clone()
    mask = torch.ones(1, 32, 32)
    mask[:, 5:20, 10:30] = 0
    assert torch.equal(patchmatch(image, mask), image)


def test_is_pypatchmatch_on_the_8_bit_image(photo, holes):
    # The wrapper adds no fill of its own: PyPatchMatch called directly, seeded alike, gives the same
    # 8-bit values under the holes (the photo is exactly 8-bit, so nothing is lost converting).
    image, mask = photo[0], holes[0]
    hole = (mask[0] == 0).numpy()
    src = np.rint(image.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    src[hole] = 255  # what the holes hold must not matter to it either
    pm.set_random_seed(7)
    reference = pm.inpaint(src, hole.astype(np.uint8), patch_size=PATCH_RADIUS)  # (H, W, 3) uint8
    ours = np.rint(patchmatch(image, mask, seed=7).permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    assert np.array_equal(ours, reference)


def test_the_same_seed_gives_the_same_fill_and_the_seed_reaches_the_search():
    noise = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))  # no structure: matches are random
    mask = torch.ones(1, 32, 32)
    mask[:, 8:20, 8:24] = 0
    first = patchmatch(noise, mask, seed=3)
    assert torch.equal(first, patchmatch(noise, mask, seed=3))
    assert torch.equal(patchmatch(noise, mask), patchmatch(noise, mask, seed=0))
    assert not torch.equal(first, patchmatch(noise, mask, seed=4))


def test_a_batch_is_filled_as_its_images_alone(photo, holes):
    batch = patchmatch(photo, holes)
    for k in range(2):
        assert torch.equal(batch[k], patchmatch(photo[k], holes[k]))
    shared = patchmatch(photo, holes[:1])  # one mask for the whole batch
    assert torch.equal(shared[1], patchmatch(photo[1], holes[0]))
    assert patchmatch(photo[0], holes[0]).shape == (3, 48, 40)


def test_dtypes_are_kept(photo, holes):
    for dtype in (torch.float64, torch.float16):
        out = patchmatch(photo.to(dtype), holes)
        known = holes.expand_as(photo) > 0
        assert out.dtype == dtype and torch.equal(out[known], photo.to(dtype)[known])


def test_no_hole_and_all_hole():
    image = torch.rand(3, 16, 16)
    assert torch.equal(patchmatch(image, torch.ones(1, 16, 16)), image)
    assert torch.equal(patchmatch(image, torch.zeros(1, 16, 16)), torch.full_like(image, 0.5))


def test_bad_inputs(photo, holes):
    with pytest.raises(ValueError, match="image must be"):
        patchmatch(photo[:, :1], holes)
    with pytest.raises(ValueError, match="mask must be"):
        patchmatch(photo, holes[..., :10])
    with pytest.raises(ValueError, match="binary"):
        patchmatch(photo, holes * 0.5)
    with pytest.raises(ValueError, match=r"patch_size must be >= 1, got 0; it is the patch radius"):
        patchmatch(photo, holes, patch_size=0)
    with pytest.raises(TypeError, match="patch_size must be an integer, got 1.5"):
        patchmatch(photo, holes, patch_size=1.5)
    for seed in (-1, 2**32):
        with pytest.raises(ValueError, match=r"seed must be in \[0, 4294967296\)"):
            patchmatch(photo, holes, seed=seed)
    with pytest.raises(TypeError, match="seed must be an integer"):
        patchmatch(photo, holes, seed="0")


def test_missing_package_gives_clear_error_and_is_not_listed(monkeypatch, photo, holes):
    monkeypatch.setitem(sys.modules, "patchmatch", None)  # makes `import patchmatch` raise ImportError
    with pytest.raises(ImportError, match="pip install pypatchmatch"):
        patchmatch(photo, holes)
    assert "patchmatch" not in available_baselines() and "harmonic" in available_baselines()


def test_package_without_its_native_library_gives_clear_error(monkeypatch, photo, holes):
    # PyPatchMatch installs without its library where no wheel fits and the build from source fails.
    monkeypatch.setitem(sys.modules, "patchmatch", types.SimpleNamespace(patchmatch_available=False))
    with pytest.raises(ImportError, match="without its native library.*--force-reinstall"):
        import_patchmatch()
    with pytest.raises(ImportError, match="native library"):
        patchmatch(photo, holes)
    assert "patchmatch" not in available_baselines()
