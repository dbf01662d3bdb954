"""The notebooks' widgets in a real browser: JupyterLab on 127.0.0.1, Chromium driven by Playwright.

Three checks, each as a user would do it, with the kernel asked afterwards what happened:
the inpainting studio (06: drag the mouse across the photo, press Inpaint), the mask
explorer (02: change a slider, the figure changes) and the training panel (03: Train, a
live update of its plot, Stop). Run with `make test-browser` (`pytest -m browser`);
`make test` skips them with that hint. Screenshots land in `outputs/browser/`.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
from browser_util import (
    SHOTS,
    button_name,
    chromium_page,
    jupyter_lab,
    lab_env,
    notebook,
    panel_notebook,
    require_browser_run,
    run_all_cells,
    wait_for,
)

pytestmark = pytest.mark.browser

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PANEL_STEPS = 5000  # the training panel's run in 03: long enough to press Stop in the middle of it


@pytest.fixture(scope="module")
def lab(request, tmp_path_factory):
    """One JupyterLab for the module, serving copies of the notebooks, in smoke mode."""
    require_browser_run(request)
    base = tmp_path_factory.mktemp("browser")
    root = base / "notebooks"
    root.mkdir()
    for nb in ("02_irregular_masks", "06_inpaint_your_photo"):
        shutil.copy(NOTEBOOKS / f"{nb}.ipynb", root)
    panel_notebook(
        NOTEBOOKS / "03_train_inpainting.ipynb", root / "03_panel.ipynb", PANEL_STEPS, "tests/test_browser.py"
    )
    env = lab_env(base)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with jupyter_lab(root, env, base / "lab.log") as server:
        yield server


@pytest.fixture
def page(lab):
    with chromium_page() as p:
        yield p


def _distance(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance from point p to the segment a-b."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    t = max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy)))
    return math.hypot(p[0] - a[0] - t * dx, p[1] - a[1] - t * dy)


def test_studio_drag_paints_holes_and_inpaint_shows_the_tiles(lab, page):
    kernel = run_all_cells(page, lab, "06_inpaint_your_photo.ipynb")
    studio = notebook(page).locator(".pconv-studio").first
    canvas = studio.locator(".pconv-studio-canvas")
    canvas.scroll_into_view_if_needed()
    lab.execute(kernel, "studio.clear()")
    # Smoke mode trains 06's network for a few steps, and the studio never ticks such a run by
    # default (tests/test_browser_studio.py checks that): tick it, so that a network fills too.
    tick = "studio.selected = [n for n in studio.methods if studio.method(n).is_network][:1] + studio.selected"
    lab.execute(kernel, tick)
    width, height, radius = lab.ask(
        kernel, "[studio.canvas.width, studio.canvas.height, studio.controls['brush'].value]"
    )
    box = canvas.bounding_box()
    scale = width / box["width"], height / box["height"]  # CSS pixels -> canvas (= image) pixels
    start = (box["x"] + 0.2 * box["width"], box["y"] + 0.45 * box["height"])
    end = (box["x"] + 0.8 * box["width"], box["y"] + 0.6 * box["height"])
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move(*end, steps=15)
    page.mouse.up()

    hole = lab.ask(kernel, "(studio.mask[0] == 0).int().tolist()")
    a, b = (((x - box["x"]) * scale[0] - 0.5, (y - box["y"]) * scale[1] - 0.5) for x, y in (start, end))
    holes = [(x, y) for y, row in enumerate(hole) for x, v in enumerate(row) if v]
    assert holes, "the drag painted no hole"
    assert max(_distance(p, a, b) for p in holes) <= radius + 1.5, "a hole away from the drag"
    inside = [(x, y) for y in range(height) for x in range(width) if _distance((x, y), a, b) <= radius - 1.5]
    assert all(hole[y][x] for x, y in inside), "the drag's path is not all hole"

    studio.get_by_role("button", name=button_name("Inpaint")).click()
    query = (
        "[studio.wait(600), sorted(studio.results), sorted(studio.selected), studio.errors, f'{studio.hole_ratio:.1%}']"
    )
    done, results, selected, errors, ratio = lab.ask(kernel, query)
    assert done and results == selected and len(results) >= 3 and errors == {}  # a network and two classical fills
    tiles = studio.locator(".pconv-studio-tile")
    wait_for(
        lambda: tiles.count() == len(selected) and tiles.locator("img[src]").count() == len(selected),
        "the result tiles",
    )
    assert f"{ratio} hole" in studio.inner_text()
    studio.screenshot(path=str(SHOTS / "06_studio.png"))


def test_mask_explorer_slider_redraws_the_figure(lab, page):
    kernel = run_all_cells(page, lab, "02_irregular_masks.ipynb")
    slider = page.locator(".widget-slider", has=page.get_by_text("seed", exact=True))  # relative: for `has=`
    explorer = notebook(page).locator(".jp-OutputArea-output", has=slider)
    seed = explorer.locator(".widget-slider", has=page.get_by_text("seed", exact=True))
    explorer.scroll_into_view_if_needed()
    figure = explorer.locator("img").first
    before = figure.get_attribute("src")
    readout = seed.locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("7")
    page.keyboard.press("Enter")
    wait_for(lambda: figure.get_attribute("src") != before, "the mask figure to change")
    seeds = lab.ask(
        kernel, "[v.controls['seed'].value for v in Out.values() if hasattr(v, 'controls') and hasattr(v, 'preview')]"
    )
    assert seeds == [7]
    explorer.screenshot(path=str(SHOTS / "02_mask_explorer.png"))


def test_training_panel_trains_updates_live_and_stops(lab, page):
    kernel = run_all_cells(page, lab, "03_panel.ipynb")
    lab.execute(kernel, "panel.plot.add_class('pconv-test-plot')")  # so that the page can find the panel's plot
    train = notebook(page).get_by_role("button", name=button_name("Train"))
    stop = notebook(page).get_by_role("button", name=button_name("Stop"))
    train.scroll_into_view_if_needed()
    train.click()
    notebook(page).locator(".pconv-test-plot img").first.wait_for(timeout=600_000)  # a live curve while it trains
    running, step = lab.ask(kernel, "[panel.running, panel.trainer.step]")
    assert running and step < PANEL_STEPS
    stop.click()
    wait_for(lambda: train.is_enabled() and stop.is_disabled(), "the run to stop", timeout=600)
    running, step = lab.ask(kernel, "[panel.running, panel.trainer.step]")
    assert not running and 0 < step < PANEL_STEPS
    button = page.get_by_role("button", name=button_name("Train"))  # relative: for `has=`
    notebook(page).locator(".jp-OutputArea-output", has=button).screenshot(path=str(SHOTS / "03_training_panel.png"))
