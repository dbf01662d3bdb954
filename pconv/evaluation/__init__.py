"""pconv.evaluation."""

from pconv.evaluation.baselines import available_baselines, biharmonic, harmonic, mean_fill, navier_stokes, telea
from pconv.evaluation.inpainting import compare_methods, evaluate_inpainting
from pconv.evaluation.metrics import dice_score, iou_score, l1_error, psnr, ssim
from pconv.evaluation.report import METRICS
from pconv.evaluation.segmentation import per_image_scores, predict_probs, save_mask_pngs

__all__ = [
    "METRICS",
    "available_baselines",
    "biharmonic",
    "compare_methods",
    "dice_score",
    "evaluate_inpainting",
    "harmonic",
    "iou_score",
    "l1_error",
    "mean_fill",
    "navier_stokes",
    "per_image_scores",
    "predict_probs",
    "psnr",
    "save_mask_pngs",
    "ssim",
    "telea",
]
