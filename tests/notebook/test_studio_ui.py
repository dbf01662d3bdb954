"""pconv.notebook.studio_ui: the mouse, the uploads, the buttons and the tiles of the studio, headless.

The widgets are driven as a browser drives them (ipycanvas events, the upload's value, button
clicks); the fixtures `photo` and `studio` are tests/notebook/conftest.py's.
"""

from __future__ import annotations

import io
import re
from datetime import datetime

import ipywidgets as widgets
import numpy as np
import pytest
import torch
from PIL import Image

from pconv.evaluation import available_baselines
from pconv.notebook import InpaintStudio
from pconv.notebook.studio_image import stroke_region
from pconv.notebook.studio_tiles import TILE_WIDTH


def _mouse(studio, event: str, x: float, y: float) -> None:
    """What the browser sends: an ipycanvas event in canvas pixels, to the layer that takes the mouse."""
    studio.canvas[-1]._handle_frontend_event(None, {"event": event, "x": x, "y": y}, [])


def _png(array: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, fmt)
    return buf.getvalue()


def _upload(studio, content: bytes, name: str) -> None:
    studio.controls["upload"].value = (
        {
            "name": name,
            "type": "image/png",
            "size": len(content),
            "content": memoryview(content),
            "last_modified": datetime.now(),
        },
    )


def test_a_mouse_stroke_paints_through_the_python_api_and_is_one_undo_step(studio):
    _mouse(studio, "mouse_down", 10.5, 10.5)  # canvas pixel 10 spans [10, 11): its centre is image pixel 10
    for x in (20.5, 30.5, 40.5):
        _mouse(studio, "mouse_move", x, 10.5)
    _mouse(studio, "mouse_up", 40.5, 10.5)
    _mouse(studio, "mouse_move", 60.5, 40.5)  # after the release: no painting
    r = studio.controls["brush"].value
    want = stroke_region((45, 67), [(10, 10), (20, 10), (30, 10), (40, 10)], r)
    assert torch.equal(studio.mask[0] == 0, torch.from_numpy(want))
    studio.controls["mode"].value = "erase"
    _mouse(studio, "mouse_down", 20.5, 10.5)
    _mouse(studio, "mouse_out", 25.5, 10.5)  # leaving the canvas ends the stroke
    assert not bool((studio.mask[0, 10, 20:26] == 0).any())
    assert studio.undo() and torch.equal(studio.mask[0] == 0, torch.from_numpy(want))
    assert studio.undo() and bool((studio.mask == 1).all())


def test_the_sample_dropdown_opens_sample_photos():
    studio = InpaintStudio(size=64)
    assert studio.controls["sample"].value == "chelsea" and studio.note.startswith("sample photo 'chelsea', 64x")
    studio.controls["sample"].value = "astronaut"
    assert studio.image.shape == (3, 64, 64) and "resized from 512x512" in studio.note
    with pytest.raises(ValueError, match="no sample photo 'nope'; choose one of astronaut"):
        studio.show_sample("nope")


def test_uploads_rgba_grey_huge_and_bad(studio):
    rgba = np.zeros((8, 10, 4), np.uint8)
    rgba[..., 0], rgba[:, :5, 3] = 255, 255  # red, the right half transparent
    _upload(studio, _png(rgba, "RGBA"), "logo.png")
    assert studio.note == "logo.png, 10x8"
    assert studio.image[:, 0, 0].tolist() == [1, 0, 0] and studio.image[:, 0, 9].tolist() == [1, 1, 1]  # over white

    _upload(studio, _png(np.full((6, 7), 77, np.uint8), "L"), "scan.png")
    assert studio.image.shape == (3, 6, 7) and bool((studio.image == 77 / 255).all())

    huge = np.zeros((2400, 3600, 3), np.uint8)
    huge[:, :1800] = 200
    _upload(studio, _png(huge, fmt="JPEG"), "phone.jpg")
    assert studio.image.shape == (3, 341, 512)
    assert (
        studio.note == "phone.jpg, 512x341 (resized from 3600x2400: the studio works at most 512 px on the long side)"
    )
    assert studio._view.note.value.startswith("in use: <b>phone.jpg, 512x341")

    before = studio.image
    _upload(studio, b"\x89PNG\r\n\x1a\n but then nothing", "broken.png")
    error = studio._view.upload_error.value
    assert "cannot load image broken.png" in error and "the photo in use is kept" in error
    assert torch.equal(studio.image, before)
    assert studio._view.note.value.startswith("in use: <b>phone.jpg, 512x341")  # still named, not replaced


def test_the_upload_button_names_the_photo_in_use(studio):
    upload = studio.controls["upload"]
    assert upload.description == "your photo" and upload.value == ()
    _upload(studio, _png(np.zeros((8, 10, 3), np.uint8)), "holiday_at_the_sea_2024_final.png")
    assert upload.description == "holiday_at_t…4_final.png" and len(upload.description) == 24
    assert upload.tooltip.startswith("in use: holiday_at_the_sea_2024_final.png")
    assert [f["name"] for f in upload.value] == ["holiday_at_the_sea_2024_final.png"]  # "(1)", not "(0)"
    _upload(studio, b"not an image", "notes.txt")  # a failed upload: the button still names the photo in use
    assert upload.description == "holiday_at_t…4_final.png" and [f["name"] for f in upload.value] == [
        "holiday_at_the_sea_2024_final.png"
    ]
    assert "notes.txt" in studio._view.upload_error.value and "holiday" in studio._view.note.value
    studio.controls["sample"].value = "astronaut"  # another photo: the button no longer names one
    assert upload.description == "your photo" and upload.value == () and studio._view.upload_error.value == ""
    assert studio._view.note.value.startswith("in use: <b>sample photo &#x27;astronaut&#x27;")


def test_an_exif_rotated_upload_is_upright(studio):
    im = Image.new("RGB", (40, 20), (0, 128, 0))
    exif = im.getexif()
    exif[0x0112] = 8  # stored rotated: 90 degrees counter-clockwise to view
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif)
    _upload(studio, buf.getvalue(), "portrait.jpg")
    assert studio.image.shape == (3, 40, 20)


def test_a_run_that_fails_as_a_whole_says_so_escaped_in_the_status_line(studio, monkeypatch):
    def crash(methods):
        raise RuntimeError("<b>no</b> memory & more")

    monkeypatch.setattr(studio, "_run", crash)
    studio.controls["inpaint"].click()
    assert studio.wait(60)
    assert "the run failed: RuntimeError: &lt;b&gt;no&lt;/b&gt; memory &amp; more" in studio.status.value
    assert "<b>no</b>" not in studio.status.value


def test_inpaint_button_runs_in_the_background_and_fills_one_tile_per_method(studio):
    studio.paint([(20, 20), (40, 30)], 5)
    studio.selected = ["tiny", "mean_fill"]
    studio.controls["inpaint"].click()
    assert studio.wait(120)
    tiles = studio.tiles.children
    assert len(tiles) == 2 and set(studio.results) == {"tiny", "mean_fill"}
    labels = [t.children[0].value for t in tiles]
    lines = re.findall(r"<div class='pconv-studio-line' title='[^']*'>(.*?)</div>", labels[0])
    assert lines[0] == "<b>tiny</b>" and re.fullmatch(r"\d+\.\d\d s(, loaded in .*)?", lines[1])
    assert all(t.children[1].value[:2] == b"\xff\xd8" for t in tiles)  # JPEG previews
    studio.controls["view"].value = "raw output"  # rerun: the network's prediction everywhere
    assert studio.wait(120)
    assert "raw output" in studio.tiles.children[0].children[0].value
    raw = studio.raw_output("tiny")
    assert raw.shape == (3, 45, 67) and not torch.equal(raw, studio.results["tiny"])


def test_live_mode_reruns_after_each_stroke(studio):
    studio.selected = ["mean_fill"]
    studio.controls["live"].value = True
    studio.wait(60)
    _mouse(studio, "mouse_down", 10.5, 10.5)
    _mouse(studio, "mouse_up", 20.5, 15.5)
    assert studio.wait(60)
    valid = studio.mask.bool().expand(3, -1, -1)
    assert list(studio.results) == ["mean_fill"] and studio.hole_ratio > 0
    out = studio.results["mean_fill"]
    assert torch.equal(out[valid], studio.image[valid]) and not torch.equal(out, studio.image)


def test_tiles_are_one_size_and_long_names_are_shortened_with_the_full_name_in_a_tooltip(photo):
    long = "20261201-101500-a-long-experiment/step 2000"
    studio = InpaintStudio(photo, models={long: lambda image, mask: image * 0.5, "x": lambda image, mask: image})
    studio.paint([(20, 20)], 6)
    studio.run([long, "x", "mean_fill"])
    studio.controls["view"].value = "raw output"
    studio.run([long, "x", "mean_fill"])
    widths = {(t.layout.width, t.children[1].layout.width) for t in studio.tiles.children}
    assert widths == {(f"{TILE_WIDTH}px", f"{TILE_WIDTH}px")}  # raw view too: the label does not set the width
    label = studio._view.tile(long).label.value
    assert f"title='{long}'" in label and "<b>20261201-10150…ent/step 2000</b>" in label and "raw output · " in label


def test_the_methods_list_is_compact_classical_in_a_row_networks_in_a_short_list(photo):
    studio = InpaintStudio(photo, models={"net": lambda image, mask: image})
    rows = [
        c
        for c in studio.children
        if isinstance(c, widgets.HBox)
        and c.children
        and isinstance(c.children[0], widgets.HTML)
        and "<b>" in c.children[0].value
    ]
    classical = next(r for r in rows if "classical" in r.children[0].value)
    networks = next(r for r in rows if "networks" in r.children[0].value)
    assert [b.description for b in classical.children[1:]] == list(available_baselines())
    (listing,) = networks.children[1:]
    assert [b.description for b in listing.children] == ["net"] and listing.layout.overflow == "auto"
    assert "(1)" in networks.children[0].value
