"""The inpainting studio's widgets: canvas, controls, the methods list, result tiles, the run thread.

`StudioView` draws what `pconv.notebook.studio.InpaintStudio` holds and forwards what the user does
to its public API: mouse strokes become `begin_stroke` / `paint` or `erase` / `end_stroke`
in image pixels, the buttons call `undo`, `clear`, `random_mask`, `run_in_background` and
`save`. The canvas is an ipycanvas MultiCanvas: layer 0 holds the photo (sent once per
image), layer 1 the holes as a checker with an outline (`pconv.notebook.studio_image.overlay_rgba`),
previewed stroke by stroke with a few canvas commands and redrawn exactly from the mask when a
stroke ends. The methods list is compact: the classical fills in one row, the networks in a
short scrolling list, best first, each with its steps and validation PSNR. The fills run off the
kernel's thread (`pconv.notebook.studio_background`), so strokes keep arriving while a network
computes; their tiles are `pconv.notebook.studio_tiles`'.
"""

from __future__ import annotations

import html
import threading
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch
from ipycanvas import MultiCanvas, hold_canvas

from pconv.notebook.studio_image import checker_tile, encode, overlay_rgba
from pconv.notebook.studio_tiles import STUDIO_CSS, Tile, error_html, short_name

__all__ = ["StudioView", "LIVE_DEBOUNCE"]

LIVE_DEBOUNCE = 0.25  # seconds of quiet after a Python-side change before a live rerun (a mouse stroke: none)
UPLOAD_LABEL = "your photo"
INTRO = "Paint the holes on the photo, tick the methods, press <b>Inpaint</b>."
STALE_STATUS = "<b>out of date</b>: the holes changed since these fills ({hole} hole now); press <b>Inpaint</b>"


class StudioView:
    """The widgets of an `InpaintStudio`; `children` is what the studio's VBox shows."""

    def __init__(self, studio: Any, sample_names: list[str], no_default: str | None = None):
        self.studio = studio
        self.canvas = MultiCanvas(2, width=1, height=1)  # 0: the photo, 1: the holes (receives the mouse)
        self.canvas.add_class("pconv-studio-canvas")
        self.photo = widgets.Image(format="png")  # encoded once per image; the canvas draws it from here
        self._checker = widgets.Image(value=encode(checker_tile(), "png"), format="png")
        self._pattern = self.canvas[1].create_pattern(self._checker)  # the stroke preview paints the hole's checker
        slider = {"continuous_update": False, "style": {"description_width": "initial"}}
        c = self.controls = {
            "sample": widgets.Dropdown(options=[("sample photo ...", "")] + [(n, n) for n in sample_names], value=""),
            "upload": widgets.FileUpload(
                accept=".png,.jpg,.jpeg,image/png,image/jpeg", description=UPLOAD_LABEL, tooltip="upload a PNG or JPEG"
            ),
            "brush": widgets.IntSlider(value=12, min=1, max=64, description="brush radius", **slider),
            "mode": widgets.ToggleButtons(options=["paint", "erase"], value="paint", style={"button_width": "60px"}),
            "undo": widgets.Button(description="Undo", icon="undo"),
            "clear": widgets.Button(description="Clear"),
            "random": widgets.Button(description="Random mask"),
            "inpaint": widgets.Button(description="Inpaint", button_style="primary", icon="magic"),
            "live": widgets.Checkbox(value=False, description="live", indent=False, layout={"width": "60px"}),
            "view": widgets.ToggleButtons(options=["composite", "raw output"], value="composite"),
            "save": widgets.Button(description="Save", icon="save"),
        }
        methods = [studio.method(n) for n in studio.methods]
        self.checks = {
            m.name: widgets.Checkbox(
                value=m.default,
                description=f"{m.name} · {m.detail}" if m.detail else m.name,
                indent=False,
                tooltip=f"{m.kind}: {m.source}",
                layout={"width": "auto"},
            )
            for m in methods
        }
        self.note, self.upload_error, self.ratio, self.status = (widgets.HTML() for _ in range(4))
        self.intro = INTRO + (f"<br><i>{html.escape(no_default)}</i>" if no_default else "")
        self.tiles = widgets.HBox(layout={"flex_flow": "row wrap"})
        self._tiles: dict[str, Tile] = {}
        self._last: tuple[float, float] | None = None  # previous mouse point of the stroke in progress
        self._syncing = False
        self._uploading = False
        self._done = ""  # the status line of the last run
        self._wire()
        row = {"flex_flow": "row wrap", "align_items": "center"}
        self.children = [
            widgets.HTML(STUDIO_CSS, layout={"display": "none"}),
            widgets.HBox([c["sample"], c["upload"], self.note], layout=row),
            self.upload_error,
            widgets.HBox([c["brush"], c["mode"], c["undo"], c["clear"], c["random"], self.ratio], layout=row),
            self.canvas,
            *self._methods_rows(methods),
            widgets.HBox([c["inpaint"], c["live"], c["view"], c["save"], self.status], layout=row),
            self.tiles,
        ]

    def _methods_rows(self, methods: list[Any]) -> list[widgets.Widget]:
        """The classical fills in one row; the networks in a short list that scrolls (best first)."""
        head = {"width": "110px", "flex": "0 0 110px"}
        classical = [self.checks[m.name] for m in methods if not m.is_network]
        networks = [self.checks[m.name] for m in methods if m.is_network]
        listing: widgets.Widget = widgets.HTML("<i>none yet: 00_quickstart trains one in a few CPU minutes</i>")
        if networks:
            listing = widgets.VBox(networks, layout={"max_height": "122px", "overflow": "auto", "width": "auto"})
            listing.add_class("pconv-studio-networks")
        row = {"flex_flow": "row wrap", "align_items": "flex-start"}
        return [
            widgets.HBox([widgets.HTML("<b>classical</b>", layout=head), *classical], layout=row),
            widgets.HBox([widgets.HTML(f"<b>networks</b> ({len(networks)})", layout=head), listing], layout=row),
        ]

    def _wire(self) -> None:
        s, c = self.studio, self.controls
        self.canvas.on_mouse_down(self._down)
        self.canvas.on_mouse_move(self._move)
        self.canvas.on_mouse_up(self._up)
        self.canvas.on_mouse_out(self._up)
        self.canvas.on_client_ready(self.redraw)  # a new page (or a second view) starts blank: replay
        c["sample"].observe(self._on_sample, names="value")
        c["upload"].observe(self._on_upload, names="value")
        c["undo"].on_click(lambda _b: s.undo())
        c["clear"].on_click(lambda _b: s.clear())
        c["random"].on_click(lambda _b: s.random_mask())
        c["inpaint"].on_click(lambda _b: s.run_in_background())
        c["save"].on_click(lambda _b: threading.Thread(target=self._save, daemon=True).start())
        c["view"].observe(lambda _ch: s.run_in_background() if s.results else None, names="value")
        c["live"].observe(lambda ch: s.run_in_background() if ch["new"] else None, names="value")
        for box in self.checks.values():
            box.observe(lambda _ch: s.run_in_background(LIVE_DEBOUNCE) if self.live else None, names="value")

    # ------------------------------------------------------------------ state the studio reads
    @property
    def live(self) -> bool:
        return bool(self.controls["live"].value)

    @property
    def showing_raw(self) -> bool:
        return self.controls["view"].value == "raw output"

    @property
    def selected(self) -> list[str]:
        return [name for name, box in self.checks.items() if box.value]

    # ------------------------------------------------------------------ the mouse
    def _stroke_to(self, x: float, y: float) -> None:
        point = (x - 0.5, y - 0.5)  # canvas coordinates -> pixel centres at integers
        segment = [self._last or point, point]
        radius, paint = self.controls["brush"].value, self.controls["mode"].value == "paint"
        (self.studio.paint if paint else self.studio.erase)(segment, radius)
        self._preview(segment, radius, paint)
        self._last = point

    def _down(self, x: float, y: float) -> None:
        self.studio.begin_stroke()
        self._last = None
        self._stroke_to(x, y)

    def _move(self, x: float, y: float) -> None:
        if self._last is not None:
            self._stroke_to(x, y)

    def _up(self, x: float, y: float) -> None:
        if self._last is not None:
            self._stroke_to(x, y)
            self._last = None
            self.studio.end_stroke()

    def _preview(self, segment: list[tuple[float, float]], radius: float, paint: bool) -> None:
        """Draw a stroke segment on the hole layer now; `mask_changed` redraws it exactly at the stroke's end."""
        (x0, y0), (x1, y1) = ((x + 0.5, y + 0.5) for x, y in segment)
        layer = self.canvas[1]
        with hold_canvas():
            layer.line_cap, layer.line_width = "round", 2 * radius + 1
            # cut first, then paint: overlapping translucent strokes must not darken
            for op, style in [("destination-out", "#000")] + ([("source-over", self._pattern)] if paint else []):
                layer.global_composite_operation, layer.stroke_style, layer.fill_style = op, style, style
                if (x0, y0) == (x1, y1):
                    layer.fill_circle(x0, y0, radius + 0.5)
                else:
                    layer.stroke_line(x0, y0, x1, y1)
            layer.global_composite_operation = "source-over"

    # ------------------------------------------------------------------ drawing what the studio holds
    def image_changed(self, rgb: np.ndarray, note: str, sample: str | None) -> None:
        h, w = rgb.shape[:2]
        self._last = None  # a stroke in progress belonged to the old image
        self.photo.value = encode(rgb, "png")
        self.canvas.width, self.canvas.height = w, h
        self.canvas.layout.width = f"{w}px"
        name, cut, more = note.partition(" (resized")  # "photo.jpg, 512x341" and what happened to it
        self.note.value = f"in use: <b>{html.escape(name)}</b>{html.escape(cut + more)}"
        self.upload_error.value = ""
        self._syncing = True
        try:
            self.controls["sample"].value = sample or ""
            if not self._uploading:  # another photo: the upload button no longer names one
                self._set_upload(())
        finally:
            self._syncing = False
        self.tiles.children = ()
        self.status.value = self.intro
        self.redraw()

    def redraw(self, *_args: Any) -> None:
        """Draw the photo and the holes again (a new page shows a blank canvas until this)."""
        with hold_canvas():
            self.canvas[0].clear()
            self.canvas[0].draw_image(self.photo, 0, 0)
        self.mask_changed(self.studio.mask[0].numpy() == 0, stroke=False)

    def mask_changed(self, hole: np.ndarray, stroke: bool) -> None:
        """Update the hole ratio; after a stroke (or any other change) redraw the hole layer exactly."""
        h, w = hole.shape
        self.ratio.value = f"hole: <b>{hole.mean():.1%}</b> of {w}x{h}"
        if stroke:
            return  # `_preview` has drawn it
        layer = self.canvas[1]
        with hold_canvas():
            layer.clear()
            if hole.any():
                layer.global_composite_operation = "source-over"
                layer.put_image_data(overlay_rgba(hole), 0, 0)

    # ------------------------------------------------------------------ results
    def tile(self, name: str) -> Tile:
        """The result tile of a method, made on first use."""
        if name not in self._tiles:
            self._tiles[name] = Tile(name)
        return self._tiles[name]

    @property
    def shown(self) -> list[Tile]:
        """The tiles on show, in order."""
        boxes = set(self.tiles.children)
        return [t for t in self._tiles.values() if t.box in boxes]

    def mark_stale(self, stale: bool, hole: float) -> None:
        """Grey every tile on show and say so in the status line (True), or show them as current (False)."""
        shown = self.shown
        was = any(t.stale for t in shown)
        for t in shown:
            t.set_stale(stale)
        if stale and shown:
            self.status.value = STALE_STATUS.format(hole=f"{hole:.1%}")
        elif was and not stale:
            self.status.value = self._done  # back to the holes they were filled for (an undo)

    def run_started(self, names: list[str]) -> None:
        self.tiles.children = [self.tile(n).box for n in names]
        self.status.value = "running ..." if names else error_html("tick at least one method")

    def show_result(self, name: str, shown: torch.Tensor, seconds: float, cached: bool, load: float) -> None:
        raw = self.showing_raw and self.studio.method(name).is_network
        self.tile(name).show(shown, seconds, cached, load, raw)

    def show_error(self, name: str, message: str) -> None:
        self.tile(name).fail(message)

    def run_failed(self, error: BaseException) -> None:
        """The whole run raised (not one method's tile): say so in the status line."""
        self.status.value = error_html(f"the run failed: {type(error).__name__}: {error}")

    def run_done(self, results: dict, errors: dict, seconds: float, hole: float) -> None:
        if not results and not errors:
            return
        text = f"{len(results)} fill(s) in {seconds:.2f} s, {hole:.1%} hole"
        if hole == 0:
            text = "no hole yet: paint one on the photo (each composite is the photo itself)"
        if errors:
            text += "; " + error_html(f"{len(errors)} failed: {', '.join(errors)}")
        self.status.value = self._done = text

    # ------------------------------------------------------------------ images and files
    def _on_sample(self, change: dict) -> None:
        if change["new"] and not self._syncing:
            self.studio.show_sample(change["new"])

    def _set_upload(self, value: tuple) -> None:
        """Give the upload button `value` (the file in use, or none) and a label naming that photo."""
        upload = self.controls["upload"]
        name = value[-1]["name"] if value else None
        self._syncing = True
        try:
            upload.value = value
        finally:
            self._syncing = False
        upload.description = short_name(name, 24) if name else UPLOAD_LABEL
        upload.tooltip = f"in use: {name}; click to upload another PNG or JPEG" if name else "upload a PNG or JPEG"

    def _on_upload(self, change: dict) -> None:
        files = change["new"]
        if not files or self._syncing:
            return
        upload = files[-1]
        self._uploading = True
        try:
            self.studio.set_image(bytes(upload["content"]), name=upload["name"])
        except (OSError, ValueError, TypeError) as e:  # ImageLoadError is an OSError
            self._set_upload(change["old"])  # the button names the photo still in use
            self.upload_error.value = error_html(f"{e}; the photo in use is kept")
        else:
            self._set_upload(files)
        finally:
            self._uploading = False

    def _save(self) -> None:
        try:
            folder = self.studio.save()
        except Exception as e:  # noqa: BLE001  (shown in the panel: the button has no caller)
            self.status.value = error_html(f"saving failed: {type(e).__name__}: {e}")
        else:
            self.status.value = f"saved to <code>{html.escape(str(folder))}</code>"
