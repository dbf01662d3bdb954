"""pconv.notebook.studio_image: photos in every form to RGB, the working size, brush strokes to exact holes."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from pconv.data import ImageLoadError
from pconv.notebook.studio_image import (
    CHECKER,
    OUTLINE,
    OVERLAY_ALPHA,
    checker_tile,
    fit_working_size,
    open_image,
    overlay_rgba,
    stroke_region,
    to_rgb_array,
)


def _disk(shape, cx, cy, r):
    """Reference: pixel (row y, column x) is inside when (x - cx)^2 + (y - cy)^2 <= r^2."""
    h, w = shape
    return np.array([[(x - cx) ** 2 + (y - cy) ** 2 <= r * r for x in range(w)] for y in range(h)])


def test_a_single_point_paints_a_disk():
    assert np.array_equal(stroke_region((21, 30), [(10, 7)], 5), _disk((21, 30), 10, 7, 5))
    assert np.array_equal(stroke_region((21, 30), (3.5, 2.25), 2.5), _disk((21, 30), 3.5, 2.25, 2.5))


def test_a_horizontal_stroke_is_a_capsule():
    # the capsule around (5, 10)-(25, 10) with radius 3: a band |y - 10| <= 3 over 5 <= x <= 25, and a disk at each end
    shape, r = (20, 40), 3
    band = np.array([[5 <= x <= 25 and abs(y - 10) <= r for x in range(40)] for y in range(20)])
    want = band | _disk(shape, 5, 10, r) | _disk(shape, 25, 10, r)
    assert np.array_equal(stroke_region(shape, [(5, 10), (25, 10)], r), want)


def test_a_polyline_is_the_union_of_its_segments_and_clips_at_the_border():
    pts = [(-5, -5), (10, 12), (30, 3), (50, 50)]  # starts and ends outside a 20x32 image
    got = stroke_region((20, 32), pts, 2)
    union = (
        stroke_region((20, 32), pts[:2], 2) | stroke_region((20, 32), pts[1:3], 2) | stroke_region((20, 32), pts[2:], 2)
    )
    assert np.array_equal(got, union) and got[0, 0] and got[12, 10]
    assert not stroke_region((20, 32), [(-40, -40), (-30, -20)], 3).any()  # wholly outside: nothing


@pytest.mark.parametrize("points", [[], [(1, 2, 3)], "ab", [(0, float("nan"))], None])
def test_bad_points_are_refused(points):
    with pytest.raises(ValueError, match="points must be"):
        stroke_region((8, 8), points, 2)


@pytest.mark.parametrize("radius", [0, -1, True, "3", float("nan"), float("inf"), np.inf])
def test_bad_radius_is_refused(radius):
    with pytest.raises(ValueError, match="radius must be a finite positive number"):
        stroke_region((8, 8), [(1, 1)], radius)


def test_grey_rgba_and_float_arrays_become_rgb():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    assert np.array_equal(to_rgb_array(grey), np.repeat(grey[..., None], 3, axis=2))
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., :3] = (200, 100, 0)
    rgba[..., 3] = [[255, 0], [128, 255]]
    out = to_rgb_array(rgba)  # over white: c * a + 255 * (1 - a)
    assert tuple(out[0, 0]) == (200, 100, 0) and tuple(out[0, 1]) == (255, 255, 255)
    a = 128 / 255
    assert tuple(out[1, 0]) == tuple(np.rint(np.array([200, 100, 0]) * a + 255 * (1 - a)).astype(int))
    assert np.array_equal(to_rgb_array(np.full((2, 3, 3), 0.5)), np.full((2, 3, 3), 128, np.uint8))
    assert np.array_equal(to_rgb_array(np.full((2, 2), 65535, np.uint16)), np.full((2, 2, 3), 255, np.uint8))


def test_tensors_are_channels_first_and_pil_images_are_turned_upright():
    t = torch.rand(3, 5, 7)
    assert np.array_equal(to_rgb_array(t), np.rint(t.permute(1, 2, 0).numpy() * 255).astype(np.uint8))
    assert to_rgb_array(t[None]).shape == (5, 7, 3)
    im = Image.new("RGB", (6, 4), (10, 20, 30))
    exif = im.getexif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees clockwise to view
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif)
    assert to_rgb_array(Image.open(buf)).shape == (6, 4, 3)
    assert to_rgb_array(Image.new("LA", (3, 2), (0, 0))).tolist() == np.full((2, 3, 3), 255).tolist()
    assert to_rgb_array(Image.new("CMYK", (3, 2))).shape == (2, 3, 3)


@pytest.mark.parametrize(
    ("image", "error", "match"),
    [
        (np.full((4, 4, 3), 2.0), ValueError, r"values in \[2, 2\]; expected \[0, 1\]"),
        (np.zeros((5, 6, 7)), ValueError, "has shape"),
        (np.zeros((2, 5, 6, 7)), ValueError, "has shape"),
        (np.zeros((0, 4)), ValueError, "empty"),
        (np.full((2, 2), np.nan), ValueError, "NaN"),
        (np.full((2, 2), -3), ValueError, "negative"),
        (np.full((2, 2), 70000, np.int64), ValueError, "up to 70000"),
        (np.zeros((2, 2), np.complex64), ValueError, "dtype complex64"),
        (torch.zeros(7, 5, 5), ValueError, "expected \\(3, H, W\\)"),
        ({"not": "an image"}, TypeError, "must be a file path, a PIL image"),
    ],
)
def test_what_is_not_an_image_is_refused_clearly(image, error, match):
    with pytest.raises(error, match=match):
        to_rgb_array(image)


def test_working_size_keeps_the_aspect_and_leaves_small_images_alone():
    big = np.zeros((300, 1000, 3), np.uint8)
    assert fit_working_size(big, 512).shape == (154, 512, 3)
    small = np.zeros((30, 50, 3), np.uint8)
    assert fit_working_size(small, 512) is small


def test_open_image_notes_a_resize_and_names_a_bad_file(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (900, 300), (1, 2, 3)).save(path)
    rgb, note = open_image(path, 300)
    assert rgb.shape == (100, 300, 3) and note == (
        "wide.png, 300x100 (resized from 900x300: the studio works at most 300 px on the long side)"
    )
    with pytest.raises(ImageLoadError, match="holiday.jpg"):
        open_image(b"definitely not a JPEG", 64, "holiday.jpg")
    with pytest.raises(ImageLoadError, match="no such file"):
        open_image(tmp_path / "missing.png", 64)


def test_overlay_marks_holes_only():
    hole = np.array([[True, False]])
    rgba = overlay_rgba(hole)
    assert rgba[0, 0, 3] > 0 and tuple(rgba[0, 1]) == (0, 0, 0, 0)


def test_overlay_is_a_black_and_white_checker_with_an_opaque_outline():
    # issue 22: a pink tint could not be seen on red and orange photos
    rng = np.random.default_rng(1)
    hole = np.zeros((40, 50), bool)
    hole[5:30, 8:45] = True
    hole[0:12, 0:6] = True  # touches the image border: the border is no edge
    hole[rng.random(hole.shape) < 0.02] = True
    rgba = overlay_rgba(hole)
    h, w = hole.shape
    for y in range(h):
        for x in range(w):
            if not hole[y, x]:
                assert tuple(rgba[y, x]) == (0, 0, 0, 0)
                continue
            dark = (y // CHECKER + x // CHECKER) % 2 == 0
            assert tuple(rgba[y, x, :3]) == ((0, 0, 0) if dark else (255, 255, 255)), (y, x)
            near = [
                hole[y + dy, x + dx]
                for dy in range(-OUTLINE, OUTLINE + 1)
                for dx in range(-OUTLINE, OUTLINE + 1)
                if abs(dx) + abs(dy) <= OUTLINE and 0 <= y + dy < h and 0 <= x + dx < w
            ]
            assert rgba[y, x, 3] == (OVERLAY_ALPHA if all(near) else 255), (y, x)
    tile = checker_tile()  # the stroke preview's pattern: the same checker, repeated from (0, 0)
    assert tile.shape == (2 * CHECKER, 2 * CHECKER, 4) and bool((tile[..., 3] == OVERLAY_ALPHA).all())
    period = 2 * CHECKER
    assert np.array_equal(tile[..., :3], overlay_rgba(np.ones((period, period), bool))[..., :3])
