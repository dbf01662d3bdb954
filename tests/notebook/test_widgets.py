"""Headless tests for pconv.notebook.widgets: building draws nothing, the controls drive the preview."""

from __future__ import annotations

import base64
import functools

import pytest
from figure_checks import assert_readable, framed

from pconv.data import FAMILIES
from pconv.notebook import widgets
from pconv.notebook.widgets import MASK_CONTROLS, mask_explorer


def _png(box) -> str:
    (out,) = box.preview.outputs
    return out["data"]["image/png"]


def _count_calls(monkeypatch, module, name) -> list:
    """Wrap module.name so that every call is recorded (and still made)."""
    calls, original = [], getattr(module, name)

    @functools.wraps(original)  # keeps the signature, which the widgets read their defaults from
    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_mask_explorer_builds_without_drawing(monkeypatch):
    masks = _count_calls(monkeypatch, widgets, "irregular_mask")  # the names the explorer draws with
    figures = _count_calls(monkeypatch, widgets, "show_masks")
    box = mask_explorer(size=32, count=2)
    assert masks == [] and figures == [] and box.preview.outputs == () and not box.rendered
    assert list(box.controls) == [row.name for row in MASK_CONTROLS]
    assert set(box.controls) == {"hole_range", "family", "boxes", "size", "seed", "count"}
    box._repr_mimebundle_()  # what display(box) calls: now, and only now, masks are drawn
    assert len(masks) == 2 and len(figures) == 1 and box.rendered


def test_mask_explorer_starts_from_irregular_masks_defaults():
    box = mask_explorer()
    assert box.controls["hole_range"].value == (0.01, 0.6) and box.controls["family"].value == "freeform"
    assert box.controls["boxes"].value is False and tuple(box.controls["family"].options) == FAMILIES
    assert box.controls["seed"].tooltip == "mask i of the grid uses default_rng([seed, i])"


def test_mask_explorer_preview_follows_the_controls():
    box = mask_explorer(size=64, count=3)
    bundle = box._repr_mimebundle_()  # what display(box) calls: the first draw happens here
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


def test_the_preview_frames_every_mask_and_is_readable(monkeypatch):
    drawn = []
    original = widgets.show_masks
    monkeypatch.setattr(widgets, "show_masks", lambda *a, **k: drawn.append(original(*a, **k)) or drawn[-1])
    box = mask_explorer(size=32, count=8)
    box.refresh()
    (fig,) = drawn
    assert len(fig.axes) == 8 and all(framed(ax) for ax in fig.axes)  # white (valid) areas keep an edge
    assert_readable(fig)
    png = base64.b64decode(_png(box))
    assert int.from_bytes(png[16:20], "big") <= 12 * fig.dpi  # fits a notebook's width: its text is not shrunk
