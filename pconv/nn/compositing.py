"""The composite of an inpainting: known pixels from the image, the rest from the network's output.

Liu et al. 2018 (arXiv:1804.07723, Sec. 3.3) write it `I_comp = M * I_gt + (1 - M) * I_out`.
It is computed here by selection (`torch.where`), not by that product: `0 * NaN` is NaN, so a
product would let a NaN or inf under a hole (in the image or the output) leak into pixels the
composite must keep exactly. Every composite in pconv (losses, validation, evaluation,
`inpaint`, the studio) is this function.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["composite"]


def composite(image: Tensor, mask: Tensor, output: Tensor) -> Tensor:
    """`mask * image + (1 - mask) * output`, by selection.

    Args:
        image: (N, C, H, W) or (C, H, W); its values under holes are never read.
        mask: broadcastable to `image`, e.g. (N, 1, H, W); 1 = valid, 0 = hole.
        output: the prediction, the shape of `image`.

    Returns:
        The composite, `image`'s shape, in the promoted dtype of `image` and `output`.
    """
    return torch.where(mask > 0, image, output)
