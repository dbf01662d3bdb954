"""Headless tests for pconv.widgets: building is cheap, controls drive the preview."""

from __future__ import annotations

import time

import pytest

import pconv.masks  # noqa: F401  (imported up front so the build timing measures the widget, not torch)
from pconv.widgets import mask_explorer


def _png(box) -> str:
    (out,) = box.preview.outputs
    return out["data"]["image/png"]


def test_mask_explorer_builds_fast_without_drawing():
    mask_explorer()                             # first call: ipywidgets' own one-off setup
    start = time.perf_counter()
    box = mask_explorer()
    assert time.perf_counter() - start < 0.5
    assert box.preview.outputs == () and not box.rendered   # nothing drawn until displayed or changed
    assert set(box.controls) == {"hole_range", "family", "boxes", "size", "seed", "count"}


def test_mask_explorer_preview_follows_the_controls():
    box = mask_explorer(size=64, count=3)
    bundle = box._repr_mimebundle_()             # what display(box) calls: the first draw happens here
    assert "application/vnd.jupyter.widget-view+json" in bundle
    first = _png(box)
    assert "3 masks of 64x64" in box.info.value

    box.controls["seed"].value = 5
    assert _png(box) != first
    box.controls["hole_range"].value = (0.5, 0.6)
    box.controls["family"].value = "thick"
    box.controls["count"].value = 2
    lo, hi = (float(x) for x in box.info.value.split("hole ratio ")[1].split(" (")[0].split(" to "))
    assert "2 masks" in box.info.value and 0.5 <= lo <= hi <= 0.6


@pytest.mark.parametrize("family", ["thin", "medium", "mixed"])
def test_mask_explorer_every_family_renders(family):
    box = mask_explorer(size=32, count=1)
    box.controls["boxes"].value = True
    box.controls["family"].value = family
    assert _png(box)
