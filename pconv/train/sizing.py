"""Notebook 03's run sized to the device: the paper's two phases on a CPU in minutes, its full network on a GPU.

The training notebook (notebooks/03_train_inpainting.ipynb) follows the paper's schedule
and loss (Liu et al. 2018, arXiv:1804.07723, Sec. 5.1: Adam at lr 2e-4, then fine-tuning at
lr 5e-5 with the encoder's batch norm frozen; loss eq. 7). What fits a machine differs by
orders of magnitude, so, as `pconv.train.recipes.quickstart` does for notebook 00, the settings
left as None in its parameters cell are picked per device from the "train_inpainting" rows of
the one sizing table, `pconv.train.size_table.SIZES`:

    run = training_settings("auto", size=None, steps=None)   # None: picked for the device
    print(run.describe())                                    # what was picked, and why

On a CPU: a narrow network (5 layers, 16 channels) at 128x128 without the VGG terms (they
would cost more than the network), 1500 + 500 steps, about 5 minutes of training on two
cores. Measured on a shared 2-core CPU with one thread (`time.process_time`, which is about
the wall time on one idle core; two threads on two idle cores are about 1.5x faster), the
training step of the candidates at batch 8 took: 128x128 with 6 layers x 32 channels (the
notebook's former default, 3000 + 1000 steps: about an hour) 0.66 s, 5 x 16 0.19 s; 64x64
with 5 x 16 0.08 s, 5 x 32 0.16 s, 6 x 32 0.25 s; 96x96 with 5 x 32 0.29 s. Trained for
1500 + 500 steps (validation, samples and checkpoints included), 128x128 5 x 16 took 441 s
of CPU time and reached 22.7 dB validation PSNR; 64x64 5 x 32: 331 s, 22.75 dB; 64x64 5 x 16
at batch 16: 263 s, 22.6 dB. The 128x128 network learns as well and shows more in its grids.
On CUDA: the paper's network (7 layers, 64 channels) and loss at 256x256, 3000 + 1000 steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from pconv.train.size_table import SIZES, check_size_fits_layers, sized_values

__all__ = ["TrainingSettings", "training_settings"]

_USE = "train_inpainting"  # notebook 03's rows of SIZES
_SETTINGS = tuple(SIZES[_USE, "cpu"])  # the names a caller may set, in the table's order
_WHY = {
    "cpu": "a CPU: a narrow network without the VGG terms (they cost more than the network there), so that "
    "both phases train in about 5 minutes on two cores. A GPU gets the paper's network: 7 layers, 64 channels "
    "at 256x256, with the VGG terms",
    "cuda": "a GPU: the paper's network (7 layers, 64 channels) and loss, VGG terms included, at 256x256 "
    "(the paper: 512x512)",
    "smoke": "smoke mode (PCONV_SMOKE=1): a tiny run that takes seconds, to test the plumbing",
}


@dataclass(frozen=True)
class TrainingSettings:
    """Notebook 03's run for one device: the paper's two phases (Liu et al. 2018, Sec. 5.1), sized to fit.

    Attributes:
        device: the resolved device, e.g. "cpu", "cuda".
        kind: which defaults were used: "cpu" (also for Apple MPS), "cuda" or "smoke".
        size: square crop side in pixels, a multiple of 2**layers.
        layers, base_channels: `PConvUNet(layers=..., base_channels=...)`.
        batch_size: images per step.
        steps, finetune_steps: phase 1 (lr 2e-4) and phase 2 (lr 5e-5, encoder batch norm frozen).
        every: validate, draw samples and checkpoint every `every` steps.
        vgg: `InpaintingLoss(vgg=...)`: "auto" (the perceptual and style terms when ImageNet VGG16
            loads), a weights file, or None (off).
        given: the names the caller set; the others were picked for the device.
    """

    device: str
    kind: str
    size: int
    layers: int
    base_channels: int
    batch_size: int
    steps: int
    finetune_steps: int
    every: int
    vgg: str | None
    given: tuple[str, ...] = ()

    def describe(self) -> str:
        """What was picked, for the device or by the caller, and why, in the notebook's names (SIZE, STEPS, ...)."""
        vgg = "off" if self.vgg is None else repr(self.vgg)
        values = (
            f"SIZE {self.size}, LAYERS {self.layers}, BASE_CHANNELS {self.base_channels}, "
            f"BATCH_SIZE {self.batch_size}, STEPS {self.steps} + FINETUNE_STEPS {self.finetune_steps}, "
            f"EVERY {self.every}, VGG {vgg}"
        )
        given = f" Set in the parameters cell: {', '.join(n.upper() for n in self.given)}." if self.given else ""
        return f"Settings for {self.device}: {values}. Picked for {_WHY[self.kind]}.{given}"


def training_settings(device: str | torch.device = "auto", smoke: bool | None = None, **given: Any) -> TrainingSettings:
    """Notebook 03's settings for `device`; the `given` ones that are not None win.

    Args:
        device: "auto", "cpu", "cuda", ...: CUDA gets the paper's network (7 layers, 64
            channels) at 256x256 with the VGG terms, 3000 + 1000 steps; anything else a narrow
            network (5 layers, 16 channels) at 128x128 without them, 1500 + 500 steps (about 5
            minutes on two CPU cores).
        smoke: a seconds-long configuration; None follows `PCONV_SMOKE=1`.
        **given: size, layers, base_channels, batch_size, steps, finetune_steps, every, vgg:
            None picks for the device; vgg=False turns the VGG terms off.

    Returns:
        The `TrainingSettings`.

    Raises:
        TypeError: an unknown setting. ValueError: size is not a multiple of 2**layers.
    """
    dev, kind, values, chosen = sized_values("training_settings", _USE, sorted(_SETTINGS), device, smoke, given)
    values["vgg"] = values["vgg"] or None  # False: off
    check_size_fits_layers(values["size"], values["layers"])
    return TrainingSettings(str(dev), kind, **values, given=tuple(k for k in _SETTINGS if k in chosen))
