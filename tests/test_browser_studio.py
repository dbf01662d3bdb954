"""The inpainting studio in a real browser (issue 22): what a user sees, checked in Chromium through JupyterLab.

The harness is tests/browser_util.py's (JupyterLab on 127.0.0.1, Debian's Chromium through
Playwright, the kernel asked what the page did). The runs the studio finds are written here,
cheaply (checkpoints of a tiny network, no training): a longer run and a newer smoke run with a
higher validation score, which the studio used to tick because it was the newest. Checked: the
default network is the longer run; with live off, a new stroke greys the tiles and labels them
"out of date: press Inpaint"; tiles are one size and a rerun says "(cached)" beside its time; an
upload names the photo in use, and a failed one does not hide that name. Run with
`make test-browser`; screenshots land in `outputs/browser/` (or `$PCONV_STUDIO_SHOTS`).
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
import torch
from browser_util import (
    SHOTS,
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

from pconv.nn import PConvUNet
from pconv.train import model_info, save_checkpoint

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ["PCONV_STUDIO_SHOTS"]) if os.environ.get("PCONV_STUDIO_SHOTS") else SHOTS
NOTEBOOKS = ("default", "stale", "upload")  # one notebook (and kernel) per test
KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}  # no kernel dialog
STUDIO = "from pconv.notebook import inpaint_studio\n\nstudio = inpaint_studio(size=256)"


def _run(runs: Path, name: str, steps: int, psnr: float, mtime: float) -> None:
    """A run folder as the trainer leaves it: ckpt_<steps>.pt and best.pt (the same file), with a val PSNR."""
    torch.manual_seed(steps)
    model = PConvUNet(layers=3, base_channels=8)
    config = {"size": 32, "model": model_info(model), "task": "inpainting"}
    ckpt = {"step": steps, "model": model.state_dict(), "config": config}
    ckpt["best"] = {"metric": "val/psnr", "value": psnr, "step": steps}
    ckpt["history"] = [{"step": steps, "val/psnr": psnr}]
    for file in (f"ckpt_{steps}.pt", "best.pt"):
        os.utime(save_checkpoint(ckpt, runs / name / file), (mtime, mtime))


@pytest.fixture(scope="module")
def lab(request, tmp_path_factory):
    """JupyterLab over small notebooks that open the studio, beside a longer run and a newer smoke run."""
    require_browser_run(request)
    base = tmp_path_factory.mktemp("browser_studio")
    root = base / "notebooks"
    root.mkdir()
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": STUDIO}
    for name in NOTEBOOKS:
        nb = {"cells": [cell], "metadata": {"kernelspec": KERNEL}, "nbformat": 4, "nbformat_minor": 5}
        (root / f"studio_{name}.ipynb").write_text(json.dumps(nb))
    runs = base / "outputs" / "runs"
    _run(runs, "20260101-090000", steps=300, psnr=21.0, mtime=1_700_000_000)
    _run(runs, "20260102-090000-smoke", steps=4, psnr=29.0, mtime=1_800_000_000)  # newer, higher: still noise
    env = lab_env(base, smoke=False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with jupyter_lab(root, env, base / "lab.log") as server:
        yield server


@pytest.fixture
def page(lab):
    with chromium_page() as p:
        yield p


def _open(page, lab, name: str):
    """Run the notebook `studio_<name>`; (kernel id, the studio's element)."""
    kernel = run_all_cells(page, lab, f"studio_{name}.ipynb")
    studio = notebook(page).locator(".pconv-studio").first
    studio.locator(".pconv-studio-canvas").scroll_into_view_if_needed()
    return kernel, studio


def _drag(page, studio, y0: float, y1: float) -> None:
    """A mouse stroke across the photo, from (0.2, y0) to (0.8, y1) of its width and height."""
    box = studio.locator(".pconv-studio-canvas").bounding_box()
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + y0 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.8 * box["width"], box["y"] + y1 * box["height"], steps=12)
    page.mouse.up()


def _greyed(studio) -> list[bool]:
    """Per tile on the page: its picture is drawn in grey (the computed CSS filter) and the note is shown."""
    state = studio.locator(".pconv-studio-tile").evaluate_all(
        """tiles => tiles.map(t => [getComputedStyle(t.querySelector('img')).filter,
                                   t.innerText.includes('out of date: press Inpaint')])"""
    )
    assert all(("grayscale" in f) == shown for f, shown in state), state
    return [shown for _, shown in state]


def test_the_default_network_is_the_best_trained_run_not_the_newer_smoke_run(lab, page):
    kernel, studio = _open(page, lab, "default")
    selected = lab.ask(kernel, "studio.selected")
    assert "20260101-090000/best" in selected and not any("smoke" in n for n in selected)
    networks = studio.locator(".pconv-studio-networks")
    trained = networks.locator(".widget-checkbox", has_text="20260101-090000/best").locator("input")
    smoke = networks.locator(".widget-checkbox", has_text="20260102-090000-smoke/best").locator("input")
    assert trained.is_checked() and not smoke.is_checked()  # listed, not ticked
    assert "smoke/tiny run" in networks.inner_text() and "val PSNR 21.0 dB" in networks.inner_text()
    assert networks.locator(".widget-checkbox").count() == 2  # best.pt and ckpt_<step>.pt: one method per run
    studio.screenshot(path=str(SHOTS / "06_studio_methods.png"))


def test_with_live_off_a_new_stroke_greys_the_tiles_until_inpaint(lab, page):
    kernel, studio = _open(page, lab, "stale")
    lab.execute(kernel, "studio.clear()")
    _drag(page, studio, 0.45, 0.6)
    inpaint = studio.get_by_role("button", name=button_name("Inpaint"))
    inpaint.click()
    done, selected = lab.ask(kernel, "[studio.wait(300), studio.selected]")
    tiles = studio.locator(".pconv-studio-tile")
    wait_for(lambda: tiles.count() == len(selected) and tiles.locator("img[src]").count() == len(selected), "the tiles")
    assert done and _greyed(studio) == [False] * len(selected)
    widths = {round(b["width"]) for b in (t.bounding_box() for t in tiles.all())}
    assert len(widths) == 1, f"tiles of different widths: {widths}"
    studio.screenshot(path=str(SHOTS / "06_studio_tiles.png"))

    _drag(page, studio, 0.2, 0.25)  # live is off: the tiles no longer fill the holes on screen
    wait_for(lambda: all(_greyed(studio)), "the tiles to grey")
    status = studio.locator(".widget-html", has_text="out of date")
    assert status.count() >= 1 and "press Inpaint" in studio.inner_text()
    studio.screenshot(path=str(SHOTS / "06_studio_stale.png"))

    inpaint.click()
    assert lab.ask(kernel, "studio.wait(300)")
    wait_for(lambda: not any(_greyed(studio)), "the tiles to be current again")
    inpaint.click()  # nothing changed: every fill comes from the cache, with its time
    assert lab.ask(kernel, "studio.wait(300)")
    wait_for(lambda: studio.inner_text().count("(cached)") == len(selected), "the cached labels")
    assert re.search(r"\d+\.\d\d s \(cached\)", studio.inner_text())


def _png(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (160, 120), colour).save(buf, "PNG")
    return buf.getvalue()


def test_an_upload_names_the_photo_in_use_and_the_holes_show_on_a_red_photo(lab, page, tmp_path):
    kernel, studio = _open(page, lab, "upload")
    red = tmp_path / "red_wall.png"
    red.write_bytes(_png((200, 40, 20)))
    button = studio.locator(".widget-upload")
    with page.expect_file_chooser() as chooser:
        button.click()
    chooser.value.set_files(str(red))
    wait_for(lambda: "red_wall.png" in button.inner_text(), "the upload button to name the photo")
    assert "in use: red_wall.png, 160x120" in studio.inner_text()
    assert lab.ask(kernel, "studio.note") == "red_wall.png, 160x120"

    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n but then nothing")
    with page.expect_file_chooser() as chooser:
        button.click()
    chooser.value.set_files(str(broken))
    wait_for(lambda: "cannot load image broken.png" in studio.inner_text(), "the upload's error")
    assert "in use: red_wall.png, 160x120" in studio.inner_text() and "red_wall.png" in button.inner_text()

    _drag(page, studio, 0.3, 0.7)
    canvas = studio.locator(".pconv-studio-canvas")
    canvas.screenshot(path=str(SHOTS / "06_studio_red_hole.png"))
    shot = Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")
    colours = {shot.getpixel((x, y)) for x in range(0, shot.width, 3) for y in range(0, shot.height, 3)}
    dark = [c for c in colours if max(c) < 60]  # the checker's black squares and outline
    light = [c for c in colours if min(c) > 200]  # its white ones: one of them stands out on any photo
    assert dark and light, f"no checker on the red photo: {sorted(colours)[:10]}"
    studio.screenshot(path=str(SHOTS / "06_studio_upload.png"))
