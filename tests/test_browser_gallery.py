"""The gallery's studio screenshot (docs/gallery/06_studio.png), taken in Chromium as a user sees the studio.

`make gallery` runs this after the notebooks, with `PCONV_GALLERY_DIR` (where the PNG goes),
`PCONV_GALLERY_WORK` (the output folder holding the runs that 00 and 03 trained there) and
`PCONV_SMOKE` as the notebooks ran. `make test-browser` leaves it out; run alone
(`pytest -m browser tests/test_browser_gallery.py`, no `PCONV_GALLERY_DIR`) it runs in smoke
mode into a temporary folder. Either way: 06 runs in JupyterLab (the harness of
tests/browser_util.py), a mouse drag paints a hole, Inpaint fills it with every ticked method,
and the studio is photographed and shrunk as every gallery figure is (`pconv.notebook.gallery`).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from browser_util import (
    REPO,
    button_name,
    chromium_page,
    jupyter_lab,
    lab_env,
    notebook,
    require_browser_run,
    run_all_cells,
    wait_for,
)
from PIL import Image

from pconv.notebook.gallery import MAX_WIDTH, save_png

pytestmark = pytest.mark.browser

NOTEBOOK = "06_inpaint_your_photo.ipynb"
# read at import, before the tests' isolation (tests/conftest.py) replaces them
# and made absolute here: the notebook's kernel runs in another folder, where a relative path means another place
GALLERY_DIR = os.environ.get("PCONV_GALLERY_DIR") and str(Path(os.environ["PCONV_GALLERY_DIR"]).resolve())
GALLERY_WORK = os.environ.get("PCONV_GALLERY_WORK") and str(Path(os.environ["PCONV_GALLERY_WORK"]).resolve())
SMOKE = os.environ.get("PCONV_SMOKE") == "1" or not GALLERY_DIR
DATA_DIR = str(Path(os.environ.get("PCONV_DATA_DIR") or REPO / "data").resolve())


@pytest.mark.timeout(2400)  # with the CPU defaults (512 px, every ticked method) on a busy machine
def test_studio_screenshot_for_the_gallery(request, tmp_path):
    require_browser_run(request)
    gallery = Path(GALLERY_DIR) if GALLERY_DIR else tmp_path / "gallery"
    root = tmp_path / "notebooks"
    root.mkdir()
    shutil.copy(REPO / "notebooks" / NOTEBOOK, root)
    env = lab_env(tmp_path, smoke=SMOKE)
    if GALLERY_DIR:  # the runs 00 and 03 trained, and the user's cached pretrained models
        env.update(PCONV_OUTPUT_DIR=GALLERY_WORK or env["PCONV_OUTPUT_DIR"], PCONV_DATA_DIR=DATA_DIR)
    with jupyter_lab(root, env, tmp_path / "lab.log") as lab, chromium_page(width=1400, height=1000) as page:
        kernel = run_all_cells(page, lab, NOTEBOOK, timeout=1800)
        studio = notebook(page).locator(".pconv-studio").first
        canvas = studio.locator(".pconv-studio-canvas")
        canvas.scroll_into_view_if_needed()
        lab.execute(kernel, "studio.clear()")
        box = canvas.bounding_box()
        page.mouse.move(box["x"] + 0.25 * box["width"], box["y"] + 0.3 * box["height"])
        page.mouse.down()
        for fx, fy in ((0.45, 0.55), (0.6, 0.35), (0.75, 0.6)):  # a zigzag stroke, as a hand draws it
            page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=12)
        page.mouse.up()
        assert lab.ask(kernel, "studio.hole_ratio") > 0.01, "the drag painted no hole"

        studio.get_by_role("button", name=button_name("Inpaint")).click()
        done, results, selected, errors = lab.ask(
            kernel, "[studio.wait(1200), sorted(studio.results), sorted(studio.selected), studio.errors]", 1500
        )
        assert done and results == selected and errors == {}, (results, selected, errors)
        if not SMOKE:  # the gallery shows the best network the notebooks trained, ticked by default
            trained = "[(studio.method(n).steps or 0) >= 200 for n in studio.selected]"  # runs.MIN_STEPS
            where = f"are 00's runs in {GALLERY_WORK}?"
            assert any(lab.ask(kernel, trained)), f"no trained run ticked among {selected}: {where}"
        pictures = studio.locator(".pconv-studio-tile img[src]")
        broken = studio.get_by_text("Click to show javascript error")  # ipywidgets' stand-in for a failed view
        wait_for(lambda: pictures.count() >= len(selected) or broken.count(), "the result tiles", timeout=600)
        if broken.count():
            broken.first.click()  # it shows the error then
            raise AssertionError(
                "a widget of the studio failed to render:\n" + studio.inner_text().split("Open Browser")[-1]
            )
        time.sleep(1)  # the last tile's picture decoded and laid out
        path = save_png(studio.screenshot(), gallery / "06_studio.png")

    shot = Image.open(path)
    assert shot.width <= MAX_WIDTH and shot.height > 200
    assert len(shot.convert("RGB").getcolors(256) or []) > 50, "a blank screenshot"  # a 256-colour palette
