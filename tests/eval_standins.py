"""Stand-ins shared by the evaluation tests (tests/evaluation/): photo crops, square masks, models.

The models are not networks: `MeanFillModel` fills holes with the mean colour (the
`mean_fill` baseline), `ModuleModel` is an `nn.Module` that records its training flag on
each call, so a test sees eval mode inside an evaluation and the flag restored after.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage import data

from pconv.evaluation import mean_fill


def astronaut_crops() -> torch.Tensor:
    """Two 64x72 crops of scikit-image's astronaut, (2, 3, 64, 72) in [0, 1]."""
    photo = torch.from_numpy(data.astronaut().astype(np.float32) / 255).permute(2, 0, 1)
    return torch.stack([photo[:, 60:124, 180:252], photo[:, 300:364, 100:172]])


def square_mask(size: int, hole: int) -> torch.Tensor:
    """A (1, size, size) mask, 1 = valid, with a hole x hole square hole at the top left."""
    m = torch.ones(1, size, size)
    m[:, :hole, :hole] = 0
    return m


class MeanFillModel:
    """A stand-in for PConvUNet: `inpaint` fills holes with the mean colour."""

    def __init__(self):
        self.calls = 0

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return mean_fill(image, mask)


class ModuleModel(torch.nn.Module):
    """An nn.Module with `inpaint`: checks eval mode during evaluation and the restored flag."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))
        self.modes: list[bool] = []

    def inpaint(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        return (mask * image + (1 - mask) * 0.5 * self.scale).clamp(0, 1)


class TensorDataset(torch.utils.data.Dataset):
    """A Dataset of {"image": (3, H, W), "mask": (1, 4, 4)} dicts, as the inpainting datasets yield."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[i], "mask": torch.ones(1, 4, 4)}
