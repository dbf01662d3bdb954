"""pconv.nn."""

from pconv.nn.compositing import composite
from pconv.nn.inpainter import Inpainter
from pconv.nn.legacy import upgrade_model_info
from pconv.nn.losses import InpaintingLoss, bce_dice_loss, dice_loss, gram_matrix
from pconv.nn.partial_conv import PartialConv2d, partial_conv2d
from pconv.nn.pconv_unet import PConvUNet, PConvUNetWithStem
from pconv.nn.unet import UNet
from pconv.nn.vgg import VGG16Features, VGGWeightsError
from pconv.nn.zoo import MODELS

__all__ = [
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
