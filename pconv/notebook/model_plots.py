"""The idea of partial convolutions, drawn: the update masks of the encoder, layer by layer.

Liu et al. 2018 (arXiv:1804.07723), Sec. 3.1: after each partial convolution a location is
valid when its window saw at least one valid input, so "with sufficient successive
applications of the partial convolution layer, any mask will eventually be all ones".
`plot_mask_updates` runs a model's encoder on one image and mask and shows each layer's
new mask. It reads them with forward hooks on `model.encoder`'s blocks, so it works for
any model whose encoder blocks are called as `block(x, mask) -> (x, mask)`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from pconv.evaluation.figure_layout import TEXT_PT, frame, panel_grid, panel_inches, wrap
from pconv.evaluation.figures import HOLE_GREY, as_batch
from pconv.utils import eval_mode

__all__ = ["plot_mask_updates"]


def plot_mask_updates(model: torch.nn.Module, image: Any, mask: Any) -> Figure:
    """The paper's mask update, drawn: the hole shrinking layer by layer through the encoder.

    Each partial convolution marks a location valid when its window saw any valid input
    (Liu et al. 2018, Eq. 2), so holes narrow by about half a kernel per layer until none
    is left. The masks depend on the kernel sizes and strides only, not on the weights:
    an untrained model draws the same figure.

    Args:
        model: a `PConvUNet` or `PConvUNetWithStem` (any model whose `encoder` is a list of
            blocks called as `block(x, mask) -> (x, mask)`; with a stem, the encoder's input
            mask is the stem's); H and W must be multiples of its 2**layers.
        image: (3, H, W) or (1, 3, H, W) in [0, 1].
        mask: (1, H, W) or (1, 1, H, W), 1 = valid, 0 = hole.

    Returns:
        The Figure: the input with its holes, the mask entering the encoder, then the mask
        after each encoder layer (at that layer's resolution), each titled with its size and
        hole ratio.
    """
    blocks = getattr(model, "encoder", None)
    if not isinstance(blocks, torch.nn.ModuleList) or len(blocks) == 0:
        raise ValueError(
            f"model must have an `encoder` list of partial-convolution blocks; {type(model).__name__} has none"
        )
    img, msk = as_batch(image, 3, "image")[:1], as_batch(mask, 1, "mask")[:1]  # (1, H, W, C)
    if img.shape[1:3] != msk.shape[1:3]:
        raise ValueError(f"image is {img.shape[1:3]} but mask is {msk.shape[1:3]}")
    masks: list[np.ndarray] = []
    hooks = [blocks[0].register_forward_pre_hook(lambda _, args: masks.append(args[1]))]
    hooks += [b.register_forward_hook(lambda _, args, out: masks.append(out[1])) for b in blocks]
    device = next(model.parameters()).device
    x = torch.from_numpy(img).permute(0, 3, 1, 2).to(device)  # (1, 3, H, W)
    m = (torch.from_numpy(msk).permute(0, 3, 1, 2) > 0.5).float().to(device)  # (1, 1, H, W)
    try:
        with eval_mode(model), torch.no_grad():  # batch norm must not learn from this one image
            model(x * m, m)
    finally:
        for h in hooks:
            h.remove()
    layers = [t[0, 0].float().cpu().numpy() > 0.5 for t in masks]  # (h, w) per stage, True = valid
    size = panel_inches(len(layers) + 1)
    fig, axes = panel_grid(1, len(layers) + 1, size)
    valid = msk[0, ..., 0] > 0.5
    axes[0, 0].imshow(np.where(valid[..., None], np.clip(img[0], 0, 1), HOLE_GREY), interpolation="nearest")
    axes[0, 0].set_title(wrap(f"input, {1 - valid.mean():.1%} hole", 0.95 * size), fontsize=TEXT_PT)
    for i, (ax, layer) in enumerate(zip(axes[0, 1:], layers)):
        ax.imshow(layer, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        frame(ax)  # so that an all-valid (all-white) mask still shows
        name = "encoder input" if i == 0 else f"layer {i}"
        title = f"{name}: {layer.shape[0]}x{layer.shape[1]}\n{1 - layer.mean():.1%} hole"
        ax.set_title(wrap(title, 0.95 * size), fontsize=TEXT_PT)
    return fig
