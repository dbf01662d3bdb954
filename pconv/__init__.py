"""pconv: partial-convolution inpainting (Liu et al. 2018) and U-Net segmentation in PyTorch.

The package has rooms, lowest first: `pconv.utils`; `pconv.nn` (the papers) and `pconv.data`;
`pconv.evaluation`; `pconv.train`; `pconv.pretrained`; `pconv.notebook` and `pconv.cli`
(docs/architecture.md). Their headline names are re-exported here lazily, so `import pconv`
is cheap and never touches optional pieces (the Kaggle client, ipywidgets) until used:

    from pconv import PConvUNet, InpaintingLoss, MaskGenerator, SampleImageDataset

Masks are 1 = known pixel, 0 = hole, everywhere; images are float in [0, 1].
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {  # room -> the headline names `pconv` re-exports from it
    "nn": [
        "PartialConv2d",
        "partial_conv2d",
        "PConvUNet",
        "UNet",
        "composite",
        "InpaintingLoss",
        "VGG16Features",
        "gram_matrix",
        "dice_loss",
        "bce_dice_loss",
    ],
    "data": [
        "irregular_mask",
        "hole_ratio",
        "PAPER_HOLE_BINS",
        "MaskGenerator",
        "MaskFolder",
        "make_test_masks",
        "load_test_masks",
        "load_image",
        "ImageLoadError",
        "ImageFolderDataset",
        "InpaintingDataset",
        "sample_images",
        "SampleImageDataset",
        "sample_inpainting_data",
        "CarvanaDataset",
        "SyntheticShapesDataset",
    ],
    "train": ["TrainConfig", "Trainer", "load_checkpoint"],
    "evaluation": ["psnr", "ssim", "l1_error", "dice_score", "iou_score", "evaluate_inpainting"],
    "pretrained": ["PRETRAINED", "from_state_dict", "load_pretrained"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'pconv' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pconv.{module}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
