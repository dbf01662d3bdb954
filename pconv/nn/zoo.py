"""The networks a checkpoint can name, by class name.

Checkpoints record a model as its class name and its constructor's arguments
(`pconv.train.model_info`), and are rebuilt from this table; checkpoints of
classes that have changed since are translated first (`pconv.nn.legacy`).
"""

from __future__ import annotations

from torch import nn

from pconv.nn.pconv_unet import PConvUNet, PConvUNetWithStem
from pconv.nn.unet import UNet

__all__ = ["MODELS"]

MODELS: dict[str, type[nn.Module]] = {cls.__name__: cls for cls in (PConvUNet, PConvUNetWithStem, UNet)}
