"""The training panel's lock and the evaluation figures' titles, checked in a real browser (JupyterLab + Chromium).

Two checks, as a user would see them, with the kernel asked what the page shows:
- 03's training panel: pressing Train disables every settings control in the page at once (none
  of them can change a running run), says so, draws its curves with a readable legend and a
  table of the runs; Stop enables them again.
- 04's error maps: the figure the notebook drew has no two titles whose boxes overlap, and its
  smallest text is at least 9 px high as the page shows the image (a 16-inch figure shrunk to
  the output area made 8-pt titles about 6 px high).
Run with `make test-browser` (`pytest -m browser`); `make test` skips them with that hint.
Screenshots land in `outputs/browser/` (03_panel_training.png, 04_error_maps.png).
"""

from __future__ import annotations

import itertools
import json
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
PANEL_STEPS = 5000  # long enough that the run is still going while the page is looked at
# Every settings control of an ipywidgets 8 panel that a user could change: number and text boxes,
# dropdowns, the checkbox, sliders (noUiSlider) and their editable readouts.
ENABLED = ", ".join(
    ["input:not([disabled])", "select:not([disabled])", ".noUi-target:not([disabled])"]
    + [".widget-readout[contenteditable='true']"]
)
ERROR_FIGURE = """
import json as _j
from matplotlib.backends.backend_agg import FigureCanvasAgg as _Agg
from matplotlib.figure import Figure as _Figure
_found = [v for v in list(Out.values()) + list(globals().values())
          if isinstance(v, _Figure) and any(a.get_ylabel() == "|composite - truth|" for a in v.axes)]
_fig = _found[-1] if _found else None
if _fig is not None:
    _Agg(_fig)
    _fig.canvas.draw()
    _r = _fig.canvas.get_renderer()
    _titles = [a.title for a in _fig.axes if a.get_title().strip()]
    _texts = _titles + [t for a in _fig.axes for t in a.get_xticklabels() + a.get_yticklabels() if t.get_text()]
    _texts += [a.yaxis.label for a in _fig.axes if a.get_ylabel()]
    print(_j.dumps({"titles": [[t.get_text(), list(t.get_window_extent(_r).bounds)] for t in _titles],
                    "min_pt": min(t.get_fontsize() for t in _texts), "dpi": _fig.dpi,
                    "inches": list(_fig.get_size_inches())}))
else:
    print(_j.dumps(None))
"""


@pytest.fixture(scope="module")
def lab(request, tmp_path_factory):
    """One JupyterLab for the module, serving 03 (up to its panel) and 04, in smoke mode."""
    require_browser_run(request)
    base = tmp_path_factory.mktemp("browser_panel")
    root = base / "notebooks"
    root.mkdir()
    shutil.copy(NOTEBOOKS / "04_evaluate.ipynb", root)
    panel_notebook(
        NOTEBOOKS / "03_train_inpainting.ipynb", root / "03_panel.ipynb", PANEL_STEPS, "tests/test_browser_panel.py"
    )
    env = lab_env(base)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with jupyter_lab(root, env, base / "lab.log") as server:
        yield server


@pytest.fixture
def page(lab):
    with chromium_page() as p:
        yield p


def _shown_scale(image) -> float:
    """How much the page shrinks an output image: its width on screen over its width in pixels."""
    return image.evaluate("img => img.getBoundingClientRect().width / img.naturalWidth")


def test_the_panels_settings_are_disabled_while_it_trains_and_enabled_after(lab, page):
    kernel = run_all_cells(page, lab, "03_panel.ipynb")
    lab.execute(kernel, "panel.add_class('pconv-test-panel'); panel.plot.add_class('pconv-test-plot')")
    panel = notebook(page).locator(".pconv-test-panel")
    panel.wait_for()
    controls = lab.ask(kernel, "[len(panel.controls), sorted(k for k, c in panel.controls.items() if c.disabled)]")
    assert controls[1] == []  # the sample photos follow the controls: nothing pinned, all of them enabled
    wait_for(lambda: panel.locator(ENABLED).count() >= controls[0], "the controls drawn")
    before = panel.locator(ENABLED).count()  # a slider counts twice: the slider and its editable readout
    conv = panel.locator(".widget-dropdown", has=page.get_by_text("conv", exact=True)).locator("select")
    assert conv.locator("option").all_inner_texts() == ["partial", "plain", "gated"]

    panel.get_by_role("button", name=button_name("Train")).click()
    wait_for(lambda: panel.locator(ENABLED).count() == 0, "every settings control disabled", timeout=30)
    assert "locked while this run trains" in panel.inner_text()
    assert panel.get_by_role("button", name=button_name("Stop")).is_enabled()
    plot = notebook(page).locator(".pconv-test-plot img").first
    plot.wait_for(timeout=600_000)  # a live curve while it trains
    running, step, legend_pt, dpi = lab.ask(
        kernel,
        "[panel.running, panel.trainer.step, min(t.get_fontsize() for t in panel.figure.legends[0].get_texts()),"
        " panel.figure.dpi]",
    )
    assert running and step < PANEL_STEPS and panel.locator(ENABLED).count() == 0
    assert legend_pt * dpi / 72 * _shown_scale(plot) >= 9  # the legend as the page shows it, in px
    assert "#1" in panel.locator("table").inner_text()  # the runs' settings, in a table under the plot
    panel.screenshot(path=str(SHOTS / "03_panel_training.png"))

    panel.get_by_role("button", name=button_name("Stop")).click()
    wait_for(
        lambda: panel.get_by_role("button", name=button_name("Train")).is_enabled(), "the run to stop", timeout=600
    )
    wait_for(lambda: panel.locator(ENABLED).count() == before, "every control enabled again", timeout=30)
    assert "locked" not in panel.inner_text() and not lab.ask(kernel, "panel.running")


def _overlaps(titles: list) -> list[tuple[str, str]]:
    """Pairs of titles whose boxes (x, y, width, height in pixels) share more than half a pixel each way."""
    found = []
    for (a, (ax, ay, aw, ah)), (b, (bx, by, bw, bh)) in itertools.combinations(titles, 2):
        if min(ax + aw, bx + bw) - max(ax, bx) > 0.5 and min(ay + ah, by + bh) - max(ay, by) > 0.5:
            found.append((a, b))
    return found


def test_the_error_maps_of_04_have_no_overlapping_titles_and_readable_text(lab):
    with chromium_page(1500, 2400) as page:  # tall: the whole figure in view, for the screenshot
        kernel = run_all_cells(page, lab, "04_evaluate.ipynb")
        found = json.loads(lab.execute(kernel, ERROR_FIGURE).strip().splitlines()[-1])
        assert found is not None, "04 drew no error-map figure (show_errors) that the kernel still holds"
        assert len(found["titles"]) >= 4 and _overlaps(found["titles"]) == [], found["titles"]
        assert found["min_pt"] >= 9 and found["inches"][0] <= 12.0 + 1e-6
        cell = notebook(page).locator(".jp-CodeCell", has_text="show_errors(").first
        image = cell.locator(".jp-OutputArea-output img").first
        image.scroll_into_view_if_needed()
        assert found["min_pt"] * found["dpi"] / 72 * _shown_scale(image) >= 9  # px, as the page shows the figure
        image.screenshot(path=str(SHOTS / "04_error_maps.png"))
