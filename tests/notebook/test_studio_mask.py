"""pconv.notebook.studio_mask: the studio's holes with undo, strokes as one step, outside any widget."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from pconv.notebook.studio_image import stroke_region
from pconv.notebook.studio_mask import HoleMask


@pytest.fixture
def holes() -> HoleMask:
    mask = HoleMask(undo_steps=3, lock=threading.RLock())
    mask.reset((12, 16))
    return mask


def test_a_reset_mask_has_no_hole_and_nothing_to_undo(holes):
    assert holes.hole.shape == (12, 16) and holes.hole.dtype == bool and not holes.hole.any()
    assert not holes.undo() and not holes.in_stroke


def test_brush_paints_and_erases_exactly_the_stroke_and_says_whether_it_changed(holes):
    assert holes.brush([(2, 2), (10, 6)], 2, True)
    want = stroke_region((12, 16), [(2, 2), (10, 6)], 2)
    assert np.array_equal(holes.hole, want)
    assert not holes.brush([(2, 2)], 1, True)  # already hole: no change, no undo step
    assert holes.brush([(10, 6)], 1, False)
    assert np.array_equal(holes.hole, want & ~stroke_region((12, 16), [(10, 6)], 1))
    assert holes.undo() and np.array_equal(holes.hole, want)
    assert holes.undo() and not holes.hole.any() and not holes.undo()


def test_a_stroke_is_one_undo_step_and_an_empty_stroke_none(holes):
    holes.begin_stroke()
    assert holes.in_stroke
    for x in (2, 5, 8):
        holes.brush([(x, 4)], 1, True)
    assert holes.end_stroke() and not holes.in_stroke
    assert not holes.end_stroke()  # no stroke in progress
    holes.begin_stroke()
    assert holes.end_stroke()  # nothing changed: no undo step
    assert holes.undo() and not holes.hole.any() and not holes.undo()


def test_replace_is_an_undo_step_unless_equal_and_the_history_is_bounded(holes):
    assert not holes.replace(np.zeros((12, 16), bool))
    for i in range(5):
        full = np.zeros((12, 16), bool)
        full[i] = True
        assert holes.replace(full)
    assert sum(holes.undo() for _ in range(5)) == 3  # undo_steps=3
    assert holes.hole[1].all()


def test_copy_is_a_copy(holes):
    snapshot = holes.copy()
    holes.brush([(3, 3)], 2, True)
    assert not snapshot.any() and holes.hole.any()
