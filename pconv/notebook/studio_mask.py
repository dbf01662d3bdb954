"""The inpainting studio's mask with undo: what `paint`, `erase`, `undo`, `clear` and a mouse stroke change.

The holes are kept as an (H, W) bool array (True = hole), the negation of the package's
mask (1 = valid, 0 = hole), because painting sets pixels to hole and the canvas overlay draws
the holes. Every change is one undo step; a mouse stroke, from `begin_stroke` to `end_stroke`,
is one as a whole (its many `paint` calls must not fill the history). A lock, shared with the
studio's image, guards it: the kernel thread paints while the studio's run thread takes a copy.
`MaskEditing` is the studio's public mask API (`paint`, `erase`, `undo`, `clear`, `random_mask`,
the strokes) on top of a `HoleMask`; `pconv.notebook.studio.InpaintStudio` has it, and shows
each change (and starts a live run) in its `_mask_changed`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from pconv.data import irregular_mask
from pconv.notebook.studio_image import stroke_region

__all__ = ["HoleMask", "MaskEditing"]


class HoleMask:
    """An (H, W) bool hole array (True = hole) with an undo history and strokes.

    Args:
        undo_steps: how many earlier masks are kept for `undo`.
        lock: guards `hole`; the studio shares it with its image.

    Attributes:
        hole: the current holes, (H, W) bool; read it under `lock`, or take `copy()`.
    """

    def __init__(self, undo_steps: int, lock: threading.RLock):
        self.lock = lock
        self.hole = np.zeros((1, 1), bool)
        self._history: deque[np.ndarray] = deque(maxlen=undo_steps)
        self._stroke: np.ndarray | None = None  # the holes when the stroke in progress began

    @property
    def in_stroke(self) -> bool:
        """True between `begin_stroke` and `end_stroke`."""
        return self._stroke is not None

    def copy(self) -> np.ndarray:
        """The holes now, (H, W) bool, a copy taken under the lock."""
        with self.lock:
            return self.hole.copy()

    def reset(self, shape: tuple[int, int]) -> None:
        """No hole, no history, no stroke: a new image of `shape` (H, W)."""
        with self.lock:
            self.hole = np.zeros(shape, bool)
            self._history.clear()
            self._stroke = None

    def brush(self, points: Sequence[Sequence[float]], radius: float, hole: bool) -> bool:
        """Set every pixel within `radius` of the polyline through `points` to hole (or back to valid).

        Args:
            points: [(x, y), ...] in image pixels (x = column, y = row); one point is a disk.
            radius: brush radius in pixels, > 0.
            hole: True to make hole, False to give the pixels back to the image.

        Returns:
            True when a pixel changed (outside a stroke, that is one undo step).
        """
        with self.lock:
            region = stroke_region(self.hole.shape, points, radius)
            if not (self.hole[region] != hole).any():
                return False
            if self._stroke is None:
                self._history.append(self.hole.copy())
            self.hole[region] = hole
        return True

    def replace(self, hole: np.ndarray) -> bool:
        """Make `hole` ((H, W) bool) the holes, as one undo step; False when it equals the current ones."""
        with self.lock:
            if np.array_equal(hole, self.hole):
                return False
            self._history.append(self.hole)
            self.hole, self._stroke = hole, None
        return True

    def undo(self) -> bool:
        """Go back one undo step; False when there is nothing to undo."""
        with self.lock:
            if not self._history:
                return False
            self.hole, self._stroke = self._history.pop(), None
        return True

    def begin_stroke(self) -> None:
        """Start a stroke: `brush` calls until `end_stroke` are one undo step."""
        with self.lock:
            self._stroke = self.hole.copy()

    def end_stroke(self) -> bool:
        """End the stroke begun by `begin_stroke` (one undo step if it changed anything).

        Returns:
            True when a stroke was in progress.
        """
        with self.lock:
            before, self._stroke = self._stroke, None
            if before is None:
                return False
            if not np.array_equal(before, self.hole):
                self._history.append(before)
        return True


class MaskEditing:
    """The studio's mask API, in image pixels (x = column, y = row, pixel centres at integers).

    The class that has it holds `_mask`, a `HoleMask`, and defines `_mask_changed(stroke, delay)`:
    show the change (a stroke in progress is previewed on the canvas already) and start a live
    run after `delay` seconds when live runs are on.
    """

    _mask: HoleMask

    def _mask_changed(self, stroke: bool = False, delay: float | None = None) -> None:
        raise NotImplementedError("the class using MaskEditing shows a changed mask")

    @property
    def mask(self) -> torch.Tensor:
        """The mask, (1, H, W) float32: 1 = valid, 0 = hole."""
        return torch.from_numpy((~self._mask.copy()).astype(np.float32))[None]

    @property
    def hole_ratio(self) -> float:
        """Fraction of the image that is hole, in [0, 1]."""
        return float(self._mask.hole.mean())

    def paint(self, points: Sequence[Sequence[float]], radius: float = 12) -> None:
        """Make a stroke of hole: every pixel within `radius` of the polyline through `points`.

        Args:
            points: [(x, y), ...] in image pixels (x = column, y = row); one point paints a disk.
            radius: brush radius in pixels, > 0.
        """
        self._brush(points, radius, True)

    def erase(self, points: Sequence[Sequence[float]], radius: float = 12) -> None:
        """Give the pixels within `radius` of the polyline through `points` back to the image (see `paint`)."""
        self._brush(points, radius, False)

    def _brush(self, points: Any, radius: Any, hole: bool) -> None:
        if self._mask.brush(points, radius, hole):
            self._mask_changed(stroke=self._mask.in_stroke)

    def undo(self) -> bool:
        """Undo the last change to the mask; False when there is nothing to undo."""
        if not self._mask.undo():
            return False
        self._mask_changed()
        return True

    def clear(self) -> None:
        """Remove every hole (undoable)."""
        self._set_hole(np.zeros_like(self._mask.hole))

    def random_mask(self, hole_range: tuple[float, float] = (0.1, 0.3), seed: int | None = None) -> None:
        """Replace the mask by a free-form one from `pconv.data.irregular_mask` (undoable).

        Args:
            hole_range: (lo, hi) fraction of the image to make hole, 0 <= lo <= hi <= 1.
            seed: an int for a reproducible mask; None for a fresh one.
        """
        h, w = self._mask.hole.shape
        self._set_hole(irregular_mask(h, w, hole_range, rng=seed) == 0)

    def _set_hole(self, hole: np.ndarray) -> None:
        if self._mask.replace(hole):
            self._mask_changed()

    def begin_stroke(self) -> None:
        """Start a stroke: `paint` / `erase` calls until `end_stroke` are one undo step (what a mouse press does)."""
        self._mask.begin_stroke()

    def end_stroke(self) -> None:
        """End the stroke begun by `begin_stroke`: one undo step, the exact mask redrawn, a live run started."""
        if self._mask.end_stroke():
            self._mask_changed(delay=0.0)
