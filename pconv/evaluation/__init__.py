"""pconv.evaluation: metrics, classical fills and the per-bin inpainting evaluation.

`psnr`, `ssim`, `l1_error` score an inpainted composite, `dice_score`, `iou_score` a
segmentation; `available_baselines` lists the classical fills (`harmonic`, `biharmonic`,
`telea`, `navier_stokes`, `patchmatch`, `mean_fill`); `evaluate_inpainting` scores methods per
hole-ratio bin as Table 1 of Liu et al. 2018 (arXiv:1804.07723). figures.py draws the trainer's sample
grids; its functions are public through `pconv.notebook` only.

Imports: `pconv.nn`, `pconv.data`, `pconv.utils`; never `pconv.train` or a room above
(pyproject.toml, [tool.importlinter]). Start with metrics.py and inpainting.py;
docs/architecture.md maps the rest.
"""

from pconv.evaluation.baselines import available_baselines, biharmonic, harmonic, mean_fill, navier_stokes, telea
from pconv.evaluation.comparison import compare_methods
from pconv.evaluation.inpainting import evaluate_inpainting
from pconv.evaluation.metrics import dice_score, iou_score, l1_error, psnr, ssim
from pconv.evaluation.patchmatch import patchmatch
from pconv.evaluation.report import METRICS
from pconv.evaluation.segmentation import border_dice, per_image_scores, predict_probs, save_mask_pngs

__all__ = [
    "METRICS",
    "available_baselines",
    "biharmonic",
    "border_dice",
    "compare_methods",
    "dice_score",
    "evaluate_inpainting",
    "harmonic",
    "iou_score",
    "l1_error",
    "mean_fill",
    "navier_stokes",
    "patchmatch",
    "per_image_scores",
    "predict_probs",
    "psnr",
    "save_mask_pngs",
    "ssim",
    "telea",
]
