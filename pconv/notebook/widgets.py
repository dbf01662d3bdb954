"""The mask explorer (ipywidgets 8): the free-form mask generator behind sliders, with a live preview.

`mask_explorer` shows `pconv.data.irregular_mask` (DeepFill v2 strokes, Yu et al. 2019,
arXiv:1806.03589; LaMa's thin / medium / thick strokes and boxes, Suvorov et al. 2022,
arXiv:2109.07161) for the settings on its sliders, with the hole ratios it got. Building it
does no heavy work (`LazyPreview`): the figure is drawn when the widget is first displayed or
a control changes, never at construction. The training panel is `pconv.notebook.panel`.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import ipywidgets as widgets
import numpy as np

from pconv.data import FAMILIES, hole_ratio, irregular_mask
from pconv.evaluation.figures import show_masks  # defined there (the trainer draws with it), public here
from pconv.notebook.controls import Control, build_controls, png_output

__all__ = ["MASK_CONTROLS", "LazyPreview", "mask_explorer"]

# The explorer's controls, once: every value but "count" and "seed" is an `irregular_mask` argument.
MASK_CONTROLS = (
    Control("hole_range", "range", "mask", "hole range", "hole ratio (lo, hi) of every mask", (0.0, 1.0, 0.01)),
    Control("family", "choice", "mask", "strokes", "stroke family: DeepFill v2 free-form or LaMa's widths"),
    Control("boxes", "check", "mask", "boxes (LaMa)", "add LaMa's rectangular holes to the strokes"),
    Control("size", "slider", "mask", "size", "mask side in pixels", (32, 512, 32)),
    Control("seed", "slider", "grid", "seed", "mask i of the grid uses default_rng([seed, i])", (0, 10_000)),
    Control("count", "slider", "grid", "count", "number of masks in the grid", (1, 32)),
)


class LazyPreview(widgets.VBox):
    """A VBox that renders its preview the first time it is displayed (see `mask_explorer`).

    Attributes:
        controls: name -> control widget. preview: the Output holding the figure.
        info: the HTML summary line. rendered: whether a preview has been drawn yet.
    """

    def __init__(
        self,
        render: Callable[[], None],
        controls: dict[str, widgets.Widget],
        preview: widgets.Output,
        info: widgets.HTML,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self._render, self.controls, self.preview, self.info, self.rendered = render, controls, preview, info, False

    def refresh(self) -> None:
        """Redraw the preview from the current control values."""
        self._render()
        self.rendered = True

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        if not self.rendered:
            self.refresh()
        return super()._repr_mimebundle_(**kwargs)


def mask_explorer(size: int = 256, count: int = 8, seed: int = 0) -> LazyPreview:
    """Sliders for `irregular_mask`'s parameters with a live grid of masks.

    Controls (in `.controls`, declared in `MASK_CONTROLS`): "hole_range", "family", "boxes",
    "size", "seed", "count". Mask i of the grid is `irregular_mask(size, size, hole_range,
    default_rng([seed, i]), family=..., boxes=...)`, so a grid can be reproduced outside the widget.

    Args:
        size: initial mask side in pixels (32-512).
        count: initial number of masks shown (1-32).
        seed: initial seed.

    Returns:
        The container widget (display it, or make it the last expression of a cell);
        `.refresh()` redraws, `.preview` is the Output holding the figure, `.info` the summary line.
    """
    defaults = {k: p.default for k, p in inspect.signature(irregular_mask).parameters.items()}
    table = [replace(row, options=tuple(FAMILIES)) if row.name == "family" else row for row in MASK_CONTROLS]
    start = {k: defaults[k] for k in ("hole_range", "family", "boxes")}
    controls = build_controls(table, {**start, "size": size, "seed": seed, "count": count})
    preview, info = widgets.Output(), widgets.HTML()

    def render() -> None:
        v = {k: c.value for k, c in controls.items()}
        kwargs = {row.name: v[row.name] for row in MASK_CONTROLS if row.target == "mask" and row.name != "size"}
        t0 = time.perf_counter()
        grid = [
            irregular_mask(v["size"], v["size"], rng=np.random.default_rng([v["seed"], i]), **kwargs)
            for i in range(v["count"])
        ]
        ms = (time.perf_counter() - t0) * 1e3
        ratios = [hole_ratio(m) for m in grid]
        preview.outputs = (png_output(show_masks(grid, ncols=min(8, len(grid))), "<mask preview>"),)
        lo, hi = v["hole_range"]
        info.value = (
            f"{len(grid)} masks of {v['size']}x{v['size']} in {ms:.0f} ms; hole ratio "
            f"{min(ratios):.3f} to {max(ratios):.3f} (asked {lo:.2f}-{hi:.2f})"
        )

    rows = [["hole_range", "family", "boxes"], ["size", "seed", "count"]]
    children = [widgets.HBox([controls[k] for k in row]) for row in rows]
    box = LazyPreview(render, controls, preview, info, children=[*children, info, preview])
    for c in controls.values():
        c.observe(lambda _change: box.refresh(), names="value")
    return box
