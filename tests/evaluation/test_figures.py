"""Tests for pconv.evaluation.figures: every helper returns a Figure with the expected axes, for tensors and arrays.

And every figure is readable as drawn (tests/figure_checks.py): no overlapping titles, legends off
the data, no text below 9 pt, masks framed, whole-step ticks and two tick labels per axis.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from figure_checks import (
    assert_readable,
    framed,
    legend_hits,
    overlapping_ticks,
    overlapping_titles,
    small_texts,
    tick_labels,
)
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


def test_show_segmentation_rows_follow_the_images_aspect():
    # Carvana's 2:3 images in square rows left blank bands between the rows
    wide = torch.rand(4, 3, 20, 30)
    fig = show_segmentation(wide, (wide[:, :1] > 0.5).float(), wide[:, :1])
    width, height = fig.get_size_inches()
    assert height / width == pytest.approx(4 * 20 / (3 * 30))  # 4 rows of 3 panels 20 high, 30 wide; was 4/3
    assert_readable(fig)


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


def test_the_figure_checks_find_overlaps_covered_lines_and_small_text():
    fig = Figure(figsize=(3, 2))
    left, right = fig.subplots(1, 2)
    left.set_title("a long title that runs into its neighbour", fontsize=8)
    right.set_title("the neighbour's title")
    left.plot([0, 1], [0, 1], label="diagonal")
    left.legend(loc="center")  # right over the line
    right.bar([0, 1], [1, 1], label="bars")
    right.legend(loc="center")
    assert overlapping_titles(fig) == [("a long title that runs into its neighbour", "the neighbour's title")]
    assert legend_hits(fig) == ["diagonal over line diagonal", "bars over bar _nolegend_", "bars over bar _nolegend_"]
    assert ("a long title that runs into its neighbour", 8) in small_texts(fig)
    assert overlapping_ticks(fig) == []
    left.set_xticks(np.linspace(0, 1, 40))  # forty labels on an inch and a half
    assert ("0.000", "0.026") in overlapping_ticks(fig)
    right.set_axis_off()
    assert not framed(right)


def test_show_masks_frames_every_mask_and_stays_readable_with_eight_columns():
    masks = [np.ones((32, 32), np.float32)] * 8  # all valid: all white, only a frame shows them
    fig = show_masks(masks, titles=["freeform"] * 4 + ["thick with boxes (LaMa)"] * 4, ncols=8)
    assert all(framed(ax) for ax in fig.axes)
    assert fig.get_size_inches()[0] <= 12.0
    assert_readable(fig)
    assert_readable(show_masks(masks[:6], image=np.random.rand(32, 32, 3), ncols=6))


def test_show_inpainting_and_segmentation_are_readable_and_frame_the_true_mask():
    image, mask, output = batch(2)
    assert_readable(show_inpainting(image, mask, output, titles=["a-rather-long-file-name.png"] * 2))
    fig = show_segmentation(image, 1 - mask, output[:, :1])
    assert_readable(fig)
    assert framed(fig.axes[1]) and not framed(fig.axes[0])  # the true mask is framed, the photo needs none


def test_plot_history_of_a_short_run_has_whole_steps_two_labels_per_axis_and_a_clear_legend():
    history = [
        {"step": s, "loss/total": 1.2 - 0.02 * s, "loss/hole": 0.9 - 0.01 * s, "lr": 2e-4 if s < 8 else 5e-5}
        for s in range(1, 11)
    ]
    for row in history[4::5]:
        row["val/psnr"] = 14.0 + row["step"] / 5
    fig = plot_history(history)
    assert_readable(fig)
    for ax in fig.axes:
        xs, ys = tick_labels(ax)
        assert len(xs) >= 2 and len(ys) >= 2, (ax.get_title(), xs, ys)
        assert all(float(t) % 1 == 0 for t in ax.get_xticks()), ax.get_xticks()
    assert fig.axes[0].get_yscale() == "linear"  # 1.0 to 1.2 spans no decade: a log axis had one label
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["loss/hole", "loss/total"]


def test_plot_dice_histogram_keeps_its_legend_off_the_bars():
    fig = plot_dice_histogram(np.r_[np.full(30, 0.97), np.linspace(0, 1, 10)])
    assert_readable(fig)
