"""Interactive notebook widgets (ipywidgets 8) for exploring masks and watching training.

`mask_explorer` puts the free-form mask generator of `pconv.masks` (DeepFill v2
strokes, Yu et al. 2019, arXiv:1806.03589; LaMa's thin / medium / thick strokes and
boxes, Suvorov et al. 2022, arXiv:2109.07161) behind sliders with a live preview.
Building a widget does no heavy work: figures are drawn when the widget is first
displayed or a control changes, never at construction.
"""

from __future__ import annotations

import base64
import io
import time

import ipywidgets as widgets
import numpy as np

__all__ = ["mask_explorer"]


class _LazyPreview(widgets.VBox):
    """A VBox that renders its preview the first time it is displayed (see `mask_explorer`)."""

    def __init__(self, render, controls: dict, preview: widgets.Output, info: widgets.HTML, **kwargs):
        super().__init__(**kwargs)
        self._render, self.controls, self.preview, self.info, self.rendered = render, controls, preview, info, False

    def refresh(self) -> None:
        """Redraw the preview from the current control values."""
        self._render()
        self.rendered = True

    def _repr_mimebundle_(self, **kwargs):
        if not self.rendered:
            self.refresh()
        return super()._repr_mimebundle_(**kwargs)


def _png_output(fig) -> dict:
    """A display_data output holding `fig` as PNG: set on an Output widget, it shows without a kernel hook."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    data = {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": "<mask preview>"}
    return {"output_type": "display_data", "data": data, "metadata": {}}


def mask_explorer(size: int = 256, count: int = 8, seed: int = 0) -> widgets.VBox:
    """Sliders for `irregular_mask`'s parameters with a live grid of masks.

    Controls (in `.controls`): "hole_range", "family", "boxes", "size", "seed", "count".
    Mask i of the grid is `irregular_mask(size, size, hole_range, default_rng([seed, i]),
    family=..., boxes=...)`, so a grid can be reproduced outside the widget.

    Args:
        size: initial mask side in pixels (32-512).
        count: initial number of masks shown (1-32).
        seed: initial seed.

    Returns:
        The container widget (display it, or make it the last expression of a cell);
        `.refresh()` redraws, `.preview` is the Output holding the figure, `.info` the summary line.
    """
    from .masks import FAMILIES, hole_ratio, irregular_mask

    slider = {"continuous_update": False, "style": {"description_width": "initial"}}
    controls = {
        "hole_range": widgets.FloatRangeSlider(value=(0.01, 0.6), min=0.0, max=1.0, step=0.01,
                                               description="hole range", **slider),
        "family": widgets.Dropdown(options=list(FAMILIES), value="freeform", description="strokes"),
        "boxes": widgets.Checkbox(value=False, description="boxes (LaMa)"),
        "size": widgets.IntSlider(value=size, min=32, max=512, step=32, description="size", **slider),
        "seed": widgets.IntSlider(value=seed, min=0, max=10_000, description="seed", **slider),
        "count": widgets.IntSlider(value=count, min=1, max=32, description="count", **slider),
    }
    preview, info = widgets.Output(), widgets.HTML()

    def render() -> None:
        from .plot import show_masks   # lazy: matplotlib only once something is drawn

        v = {k: c.value for k, c in controls.items()}
        start = time.perf_counter()
        masks = [irregular_mask(v["size"], v["size"], v["hole_range"], np.random.default_rng([v["seed"], i]),
                                family=v["family"], boxes=v["boxes"]) for i in range(v["count"])]
        ms = (time.perf_counter() - start) * 1e3
        ratios = [hole_ratio(m) for m in masks]
        fig = show_masks(masks, ncols=min(8, len(masks)))
        preview.outputs = (_png_output(fig),)
        lo, hi = v["hole_range"]
        info.value = (f"{len(masks)} masks of {v['size']}x{v['size']} in {ms:.0f} ms; hole ratio "
                      f"{min(ratios):.3f} to {max(ratios):.3f} (asked {lo:.2f}-{hi:.2f})")

    box = _LazyPreview(render, controls, preview, info, children=[
        widgets.HBox([controls["hole_range"], controls["family"], controls["boxes"]]),
        widgets.HBox([controls["size"], controls["seed"], controls["count"]]),
        info, preview,
    ])
    for c in controls.values():
        c.observe(lambda _change: box.refresh(), names="value")
    return box
