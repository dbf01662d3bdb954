"""pconv.notebook: what the notebooks show: figures, widgets, the training panel, the studio.

Figures (`show_inpainting`, `show_masks`, `plot_history`, `show_segmentation`, defined in
`pconv.evaluation.figures` because the trainer draws them, public here), evaluation plots,
`mask_explorer`, `training_panel`, and the inpainting studio (`inpaint_studio`,
`InpaintStudio`). `python -m pconv.notebook.runner NOTEBOOK` runs a notebook headless
(`make demo`, tests/test_notebooks.py).

Imports: every room below (pconv.pretrained, train, evaluation, nn, data, utils); never
`pconv.cli` (pyproject.toml, [tool.importlinter]). Start with studio.py or panel.py;
docs/architecture.md follows one studio stroke through the code.
"""

from pconv.evaluation.figures import plot_dice_histogram, plot_history, show_inpainting, show_masks, show_segmentation
from pconv.notebook.ablation_plots import plot_seed_bars, plot_seed_lines
from pconv.notebook.eval_plots import plot_report, sample_slider, show_errors, show_fills, show_worst
from pconv.notebook.model_plots import plot_mask_updates
from pconv.notebook.panel import training_panel
from pconv.notebook.studio import InpaintStudio, inpaint_studio
from pconv.notebook.studio_methods import discover_methods
from pconv.notebook.studio_report import comparison_figure
from pconv.notebook.widgets import mask_explorer

__all__ = [
    "InpaintStudio",
    "comparison_figure",
    "discover_methods",
    "inpaint_studio",
    "mask_explorer",
    "plot_dice_histogram",
    "plot_history",
    "plot_mask_updates",
    "plot_report",
    "plot_seed_bars",
    "plot_seed_lines",
    "sample_slider",
    "show_errors",
    "show_fills",
    "show_inpainting",
    "show_masks",
    "show_segmentation",
    "show_worst",
    "training_panel",
]
