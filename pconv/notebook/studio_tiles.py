"""The inpainting studio's result tiles: one per method, all one size, each with its time, greyed when out of date.

A tile is [label, picture, error, note] in a box of fixed width (`TILE_WIDTH`): the picture
is scaled to it, and a long method name is shortened in the middle (its end, "best" or
"step 2000", tells two checkpoints of one run apart) with the full name in a tooltip. The label
gives the seconds the fill took, "(cached)" when it came from the result cache. When the mask
changes and live runs are off, the tiles no longer show the holes on screen: they are greyed
and say "out of date: press Inpaint" until the next run draws them again.
"""

from __future__ import annotations

import html

import ipywidgets as widgets
import torch

from pconv.notebook.studio_image import encode, to_rgb_array

__all__ = ["TILE_WIDTH", "STUDIO_CSS", "Tile", "short_name", "error_html"]

TILE_WIDTH = 256  # CSS pixels: every tile, whatever its label (four in a row beside a 1024 px page)
LABEL_CHARS = 28  # characters of a method name that fit a tile's width in bold
STALE_TEXT = "out of date: press Inpaint"
STUDIO_CSS = f"""<style>
.pconv-studio-tile .widget-html-content {{ line-height: 1.35; }}
.pconv-studio-line {{ white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: {TILE_WIDTH}px; }}
.pconv-studio-tile img {{ width: {TILE_WIDTH}px; height: auto; object-fit: contain; }}
.pconv-studio-stale img {{ filter: grayscale(1); opacity: 0.4; }}
.pconv-studio-stale-note {{ font-weight: bold; color: #5c3c00; background: #ffe7a3; padding: 1px 4px; }}
.pconv-studio-networks {{ border: 1px solid var(--jp-border-color2, #ccc); padding: 0 6px; }}
</style>"""


def error_html(text: str) -> str:
    """`text`, escaped, in the colour of an error."""
    return f"<span style='color:#b00'>{html.escape(text)}</span>"


def short_name(name: str, chars: int = LABEL_CHARS) -> str:
    """`name` in at most `chars` characters: the middle replaced by "…" (both ends tell methods apart)."""
    if len(name) <= chars:
        return name
    tail = (chars - 1) // 2
    return f"{name[: chars - 1 - tail]}…{name[-tail:]}"


class Tile:
    """One method's tile. Attributes: box (VBox: label, image, error, note), label, image, error, note."""

    def __init__(self, name: str):
        self.name, self.stale = name, False
        self.label, self.error = widgets.HTML(self._title()), widgets.HTML()
        self.image = widgets.Image(format="jpeg", layout={"width": f"{TILE_WIDTH}px"})
        self.note = widgets.HTML(f"<span class='pconv-studio-stale-note'>{STALE_TEXT}</span>")
        self.note.layout.display = "none"
        self.box = widgets.VBox(
            [self.label, self.image, self.error, self.note],
            layout={"width": f"{TILE_WIDTH}px", "margin": "0 8px 8px 0", "overflow": "hidden"},
        )
        self.box.add_class("pconv-studio-tile")  # no `tooltip` on a Box: ipywidgets 8.1's view fails on it

    def _title(self, line: str = "") -> str:
        """Two lines that never wrap (every tile the same height): the name, shortened, and `line`."""
        name = html.escape(self.name, quote=True)
        first = f"<div class='pconv-studio-line' title='{name}'><b>{html.escape(short_name(self.name))}</b></div>"
        text = html.escape(line, quote=True)
        return first + f"<div class='pconv-studio-line' title='{text}'>{text or '&nbsp;'}</div>"

    def show(self, shown: torch.Tensor, seconds: float, cached: bool, load: float, raw: bool) -> None:
        """Show a result: (3, H, W) in [0, 1], the seconds it took, whether it was cached, the load seconds."""
        self.image.value = encode(to_rgb_array(shown, what=self.name), "jpeg")  # `save` writes lossless PNGs
        self.image.layout.display, self.error.value = None, ""
        when = (
            f"{seconds:.2f} s" + (" (cached)" if cached else "") + (f", loaded in {load:.1f} s" if load >= 0.05 else "")
        )
        self.label.value = self._title(("raw output · " if raw else "") + when)
        self.set_stale(False)

    def fail(self, message: str) -> None:
        """Show why the method failed instead of a picture."""
        self.image.layout.display = "none"
        self.label.value = self._title("failed")
        self.error.value = error_html(message[:500])
        self.set_stale(False)

    def set_stale(self, stale: bool) -> None:
        """Grey the tile and say "out of date: press Inpaint" (True), or show it as current (False)."""
        if stale == self.stale:
            return
        self.stale = stale
        (self.box.add_class if stale else self.box.remove_class)("pconv-studio-stale")
        self.note.layout.display = None if stale else "none"
