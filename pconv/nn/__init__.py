"""pconv.nn: the papers' networks, layers and losses.

The partial convolution of Liu et al. 2018 (arXiv:1804.07723, Sec. 3.1: `PartialConv2d`,
`partial_conv2d`), the inpainting U-Net built from it (Sec. 3.2 and the appendix table:
`PConvUNet`, its convolution a choice among `CONVS`: partial, plain, gated), its loss
(`InpaintingLoss`, on `VGG16Features`), the one `composite`, and the segmentation U-Net of
Ronneberger et al. 2015 (arXiv:1505.04597: `UNet`, `dice_loss`).
`MODELS` is the table of classes a checkpoint can name.

Imports: `pconv.utils` only; never `pconv.data` or a room above (pyproject.toml,
[tool.importlinter]). Start with partial_conv.py, then blocks.py and pconv_unet.py;
docs/architecture.md maps the rest.
"""

from pconv.nn.compositing import composite
from pconv.nn.conv_variants import CONVS
from pconv.nn.inpainter import Inpainter
from pconv.nn.legacy import upgrade_model_info
from pconv.nn.losses import InpaintingLoss, bce_dice_loss, dice_loss, gram_matrix
from pconv.nn.partial_conv import PartialConv2d, partial_conv2d
from pconv.nn.pconv_unet import PConvUNet, PConvUNetWithStem
from pconv.nn.unet import UNet
from pconv.nn.vgg import VGG16Features, VGGWeightsError
from pconv.nn.zoo import MODELS

__all__ = [
    "CONVS",
    "Inpainter",
    "InpaintingLoss",
    "MODELS",
    "PConvUNet",
    "PConvUNetWithStem",
    "PartialConv2d",
    "UNet",
    "VGG16Features",
    "VGGWeightsError",
    "bce_dice_loss",
    "composite",
    "dice_loss",
    "gram_matrix",
    "partial_conv2d",
    "upgrade_model_info",
]
