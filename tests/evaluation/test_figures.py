"""Tests for pconv.evaluation.figures: every helper returns a Figure with the expected axes, for tensors and arrays."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from pconv.notebook import plot_dice_histogram, plot_history, show_inpainting, show_masks, show_segmentation


def batch(n: int = 3, size: int = 16) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    image = torch.rand(n, 3, size, size, generator=g)
    mask = torch.ones(n, 1, size, size)
    mask[:, :, 4:10, 4:10] = 0
    output = torch.rand(n, 3, size, size, generator=g)
    return image, mask, output


def visible_axes(fig: Figure) -> int:
    return len(fig.axes)


@pytest.mark.parametrize("as_numpy", [False, True])
def test_show_inpainting(as_numpy, tmp_path):
    image, mask, output = batch(5)
    if as_numpy:
        image, mask, output = image.numpy(), mask.numpy(), output.numpy()
    fig = show_inpainting(image, mask, output, titles=["a", "b"])
    assert isinstance(fig, Figure) and visible_axes(fig) == 4 * 4  # max_rows=4
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[0].startswith("a: input") and "dB" in titles[2]
    fig.savefig(tmp_path / "grid.png")
    assert (tmp_path / "grid.png").stat().st_size > 0


def test_show_inpainting_single_and_psnr_title():
    image, mask, _ = batch(1)
    fig = show_inpainting(image[0], mask[0], image[0], max_rows=2)  # perfect output
    assert visible_axes(fig) == 4
    assert "100.00 dB" in fig.axes[2].get_title()
    with pytest.raises(ValueError, match="batch sizes differ"):
        show_inpainting(image, mask, torch.rand(2, 3, 16, 16))


def test_show_masks_tensor_list_and_photo():
    _, mask, _ = batch(3)
    fig = show_masks(mask, ncols=2)
    assert visible_axes(fig) == 3
    assert fig.axes[0].get_title() == f"{36 / 256:.1%} hole"
    arrays = [m[0].numpy() for m in mask] + [np.ones((16, 16), np.float32)]
    fig = show_masks(arrays, titles=["m0", "m1", "m2", "full"], image=np.random.rand(16, 16, 3))
    assert visible_axes(fig) == 4 and fig.axes[3].get_title() == "full 0.0% hole"
    fig = show_masks(mask, image=torch.rand(3, 16, 16))
    assert visible_axes(fig) == 3
    with pytest.raises(ValueError, match="image is"):
        show_masks(mask, image=torch.rand(3, 8, 8))


def test_plot_history_with_missing_keys():
    history = []
    for step in range(0, 300, 10):
        row = {"step": step, "loss/total": 2.0 / (1 + step), "loss/hole": 1.0 / (1 + step), "lr": 2e-4}
        if step % 100 == 0:
            row.update({"val/psnr": 20 + step / 100, "val/ssim": 0.8, "val/loss": 1.5 / (1 + step)})
        history.append(row)
    fig = plot_history(history)
    assert isinstance(fig, Figure)
    assert visible_axes(fig) == 1 + 2 + 1  # losses, val/psnr, val/ssim, lr
    assert fig.axes[0].get_yscale() == "log"
    assert plot_history(history, keys=["loss/total"]).axes[0].get_title() == "losses"
    assert visible_axes(plot_history([{"val/psnr": 21.0}, {"val/psnr": torch.tensor(22.0)}])) == 1
    with pytest.raises(ValueError, match="no numeric values"):
        plot_history([{"step": 1}])


@pytest.mark.parametrize("as_numpy", [False, True])
def test_show_segmentation(as_numpy):
    image, target, _ = batch(2)
    target = 1 - target  # square foreground
    pred = target * 0.9
    if as_numpy:
        image, target, pred = image.numpy(), target.numpy(), pred.numpy()
    fig = show_segmentation(image, target, pred)
    assert visible_axes(fig) == 2 * 3
    assert fig.axes[2].get_title().endswith("Dice 1.000")
    fig = show_segmentation(image, target, pred, threshold=0.95, max_rows=1)
    assert visible_axes(fig) == 3 and fig.axes[2].get_title().endswith("Dice 0.000")


def test_plot_dice_histogram():
    fig = plot_dice_histogram(torch.tensor([0.9, 0.95, 0.99, 1.0]))
    assert visible_axes(fig) == 1 and "mean 0.960" in fig.axes[0].get_legend().get_texts()[0].get_text()
    assert visible_axes(plot_dice_histogram([0.5, 0.7])) == 1


def test_plot_history_hides_a_zero_skipped_counter_unless_asked():
    from pconv.notebook import plot_history

    rows = [{"step": i, "loss/total": 1.0 / (i + 1), "skipped": 0} for i in range(5)]
    assert len(plot_history(rows).axes) == 1
    assert len(plot_history(rows, keys=["loss/total", "skipped"]).axes) == 2
    rows[-1]["skipped"] = 2  # a skipped step is worth seeing
    assert len(plot_history(rows).axes) == 2
