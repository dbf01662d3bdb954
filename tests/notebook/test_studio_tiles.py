"""pconv.notebook.studio_tiles: one size for every tile, shortened names, times, out-of-date tiles."""

from __future__ import annotations

import re

import pytest
import torch

from pconv.notebook.studio_tiles import LABEL_CHARS, STALE_TEXT, TILE_WIDTH, Tile, error_html, short_name


def _lines(label: str) -> list[tuple[str, str]]:
    """(tooltip, content) of each line of a tile's label."""
    return re.findall(r"<div class='pconv-studio-line' title='([^']*)'>(.*?)</div>", label)


@pytest.mark.parametrize("name", ["tiny", "x" * LABEL_CHARS, "20261201-101500-a-long-experiment/step 2000", "ab" * 40])
def test_short_name_keeps_both_ends_within_the_budget(name):
    short = short_name(name)
    assert len(short) == min(len(name), LABEL_CHARS)
    if len(name) <= LABEL_CHARS:
        assert short == name
    else:
        head, tail = short.split("…")
        assert name.startswith(head) and name.endswith(tail) and abs(len(head) - len(tail)) <= 1


def test_a_tile_is_one_width_and_labels_its_time_cached_and_raw():
    tile = Tile("run/best")
    assert tile.box.layout.width == tile.image.layout.width == f"{TILE_WIDTH}px"
    tile.show(torch.rand(3, 10, 14), 0.1234, cached=False, load=1.26, raw=False)
    assert tile.image.value[:2] == b"\xff\xd8"  # a JPEG preview
    assert _lines(tile.label.value) == [("run/best", "<b>run/best</b>"), ("0.12 s, loaded in 1.3 s",) * 2]
    tile.show(torch.rand(3, 10, 14), 0.1234, cached=True, load=0.0, raw=True)
    assert _lines(tile.label.value)[1] == ("raw output · 0.12 s (cached)",) * 2
    assert tile.label.value.count("class='pconv-studio-line'") == 2  # never wrapped: every tile one height


def test_a_name_with_markup_is_escaped_in_the_label_and_its_tooltip():
    tile = Tile("<b>x</b>'s run")
    assert "title='&lt;b&gt;x&lt;/b&gt;&#x27;s run'" in tile.label.value and "<b>x</b>'" not in tile.label.value


def test_a_failed_tile_hides_its_picture_and_says_why():
    tile = Tile("broken")
    tile.fail("RuntimeError: <oops>")
    assert tile.image.layout.display == "none" and "failed" in tile.label.value
    assert tile.error.value == error_html("RuntimeError: <oops>") and "&lt;oops&gt;" in tile.error.value


def test_an_out_of_date_tile_is_greyed_and_says_press_inpaint_until_it_shows_again():
    tile = Tile("harmonic")
    assert not tile.stale and tile.note.layout.display == "none" and STALE_TEXT in tile.note.value
    tile.set_stale(True)
    assert tile.stale and "pconv-studio-stale" in tile.box._dom_classes and tile.note.layout.display is None
    tile.show(torch.rand(3, 4, 4), 0.01, cached=False, load=0.0, raw=False)  # a new result: current again
    assert not tile.stale and "pconv-studio-stale" not in tile.box._dom_classes
    tile.set_stale(True)
    tile.fail("ValueError: nan")  # a failure is current too
    assert not tile.stale and tile.note.layout.display == "none"
