"""Tests for pconv/maskdraw.py: the binary morphology and the stroke primitives behind irregular masks."""

from __future__ import annotations

import numpy as np

from pconv.data import mask_drawing as maskdraw


def test_grow_holes_adds_exactly_k_touching_pixels():
    hole = np.zeros((20, 20), bool)
    hole[10, 10] = True
    grown = maskdraw.grow_holes(hole, 7, np.random.default_rng(0))
    assert grown.sum() == 8 and grown[10, 10]
    assert grown[8:13, 8:13].sum() == 8  # within two rings of the seed


def test_dilate_matches_a_plain_max_filter():
    a = np.zeros((15, 15), bool)
    a[7, 7] = True
    assert maskdraw.dilate(a, 1).sum() == 9  # first step: the 3x3 square
    assert maskdraw.dilate(a, 1, cross=True).sum() == 5  # the plus shape
    assert maskdraw.dilate(a, 2).sum() == 21  # square then cross: an octagon of 5x5 minus corners
