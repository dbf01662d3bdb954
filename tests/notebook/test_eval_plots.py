"""Tests for pconv.notebook.eval_plots: the comparison figures, checked against values computed plainly here.

And readable as drawn (tests/figure_checks.py): with 04's many methods and long run names no
title runs into another, the legend covers no line, and no text is below 9 pt.
"""

from __future__ import annotations

import math
import sys

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
from figure_checks import assert_readable, overlapping_titles
from matplotlib.figure import Figure
from PIL import Image

from pconv.evaluation.report import InpaintingReport
from pconv.notebook import plot_report, sample_slider, show_errors, show_fills, show_worst

BINS = ["1-10%", "10-20%", "20-30%"]


def report(methods=("model", "biharmonic")) -> InpaintingReport:
    """Two methods; the third bin holds no image."""
    results = {}
    for j, m in enumerate(methods):
        results[m] = {
            b: {"psnr": 30.0 - 3 * i + j, "ssim": 0.9 - 0.1 * i, "l1": 0.01 * (i + 1), "n": 0 if i == 2 else 2}
            for i, b in enumerate(BINS)
        }
    return InpaintingReport(results=results, methods=list(methods), bins=list(BINS))


def test_plot_report_one_line_per_method_over_the_bins_with_images():
    fig = plot_report(report())
    assert isinstance(fig, Figure) and len(fig.axes) == 2  # PSNR, SSIM
    psnr_ax, ssim_ax = fig.axes
    assert [t.get_text() for t in psnr_ax.get_xticklabels()] == BINS[:2]  # the empty bin is left out
    lines = psnr_ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["model", "biharmonic"]
    np.testing.assert_allclose(lines[0].get_ydata(), [30.0, 27.0])
    np.testing.assert_allclose(lines[1].get_ydata(), [31.0, 28.0])
    np.testing.assert_allclose(ssim_ax.get_lines()[0].get_ydata(), [0.9, 0.8])
    assert psnr_ax.get_title() == "PSNR (dB)" and ssim_ax.get_title() == "SSIM"
    l1 = plot_report(report(), metrics=["l1"])
    np.testing.assert_allclose(l1.axes[0].get_lines()[0].get_ydata(), [1.0, 2.0])  # percent


def test_plot_report_tolerates_a_missing_method_and_rejects_nonsense():
    fig = plot_report(report(), methods=["telea", "biharmonic", "navier_stokes"])  # no OpenCV here, say
    assert [ln.get_label() for ln in fig.axes[0].get_lines()] == ["biharmonic"]
    with pytest.raises(ValueError, match="none of the methods"):
        plot_report(report(), methods=["telea"])
    with pytest.raises(ValueError, match="unknown metric"):
        plot_report(report(), metrics=["psnr", "fid"])
    empty = report()
    for m in empty.methods:
        for b in BINS:
            empty.results[m][b]["n"] = 0
    with pytest.raises(ValueError, match="no images"):
        plot_report(empty)


def pictures(n: int = 3, size: int = 16):
    g = torch.Generator().manual_seed(0)
    image = torch.rand(n, 3, size, size, generator=g)
    mask = torch.ones(n, 1, size, size)
    mask[:, :, 4:10, 2:12] = 0
    noisy = (image + 0.2 * torch.rand(n, 3, size, size, generator=g)).clamp(0, 1)
    return image, mask, {"perfect": image.clone(), "noisy": noisy, "telea": None}


def plain_psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10 * math.log10(1 / max(float(np.mean((a.astype(np.float64) - b) ** 2)), 1e-10))


def test_show_fills_puts_every_method_between_input_and_truth():
    image, mask, fills = pictures()
    fig = show_fills(image, mask, fills, max_rows=2, titles=["a", "b", "c"])
    assert len(fig.axes) == 2 * 4  # input, perfect, noisy, truth: telea (None) is left out
    titles = [ax.get_title() for ax in fig.axes[:4]]
    assert titles[0] == "a: input (23% hole)" and titles[1] == "perfect\n100.00 dB" and titles[3] == "ground truth"
    valid = mask[0].permute(1, 2, 0).numpy() > 0.5
    composite = np.where(valid, image[0].permute(1, 2, 0).numpy(), fills["noisy"][0].permute(1, 2, 0).numpy())
    assert titles[2] == f"noisy\n{plain_psnr(composite, image[0].permute(1, 2, 0).numpy()):.2f} dB"
    assert fig.axes[4 + 2].get_title().endswith(" dB") and "noisy" not in fig.axes[4 + 2].get_title()
    np.testing.assert_allclose(np.asarray(fig.axes[2].images[0].get_array()), composite, atol=1e-6)
    as_numpy = show_fills(image[0].numpy(), mask[0].numpy(), {"noisy": fills["noisy"][0].numpy()})
    assert len(as_numpy.axes) == 3
    with pytest.raises(ValueError, match="fills is empty"):
        show_fills(image, mask, {"telea": None})
    with pytest.raises(ValueError, match=r"fills\['noisy'\] has shape"):
        show_fills(image, mask, {"noisy": fills["noisy"][:2]})


def test_show_errors_maps_the_absolute_error_on_one_scale():
    image, mask, fills = pictures()
    fig = show_errors(image, mask, fills, max_rows=3, vmax=0.5)
    maps = [ax for ax in fig.axes if ax.images and ax.get_title() and not ax.get_title().endswith("input")]
    assert len(maps) == 3 * 2 and len(fig.axes) == 3 * 3 + 1  # + the colour bar
    truth = image[1].permute(1, 2, 0).numpy()
    valid = mask[1].permute(1, 2, 0).numpy() > 0.5
    composite = np.where(valid, truth, fills["noisy"][1].permute(1, 2, 0).numpy())
    want = np.abs(composite - truth).mean(-1)
    noisy_row1 = fig.axes[1 * 3 + 2]
    np.testing.assert_allclose(np.asarray(noisy_row1.images[0].get_array()), want, atol=1e-6)
    assert noisy_row1.images[0].get_clim() == (0, 0.5)
    assert noisy_row1.get_title() == f"mean {want[~valid[..., 0]].mean():.3f}"  # the name heads the column
    assert fig.axes[2].get_title().startswith("noisy\nmean ")
    assert np.asarray(fig.axes[1].images[0].get_array()).max() == 0  # a perfect fill has no error
    auto = show_errors(image, mask, fills)  # the scale: the 99th percentile of the hole errors
    assert 0 < auto.axes[2].images[0].get_clim()[1] <= 0.2 + 1e-6


def test_show_worst_orders_each_method_by_psnr():
    image, mask, fills = pictures(n=4)
    fills["noisy"][2] = 1 - image[2]  # far off: the worst
    fig = show_worst(image, mask, fills, n=2, titles=list("abcd"))
    assert len(fig.axes) == 2 * 2  # perfect and noisy, two each
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[2].startswith("#2 c, ")  # the noisy row: its worst first
    assert [t.get_text() for t in fig.axes[0].texts + fig.axes[2].texts] == ["perfect", "noisy"]
    perfect_psnr = [float(t.split(", ")[-1].split(" dB")[0]) for t in titles[:2]]
    assert perfect_psnr == [100.0, 100.0]
    with pytest.raises(ValueError, match="n must be >= 1"):
        show_worst(image, mask, fills, n=0)


def test_figures_with_a_baseline_missing_because_opencv_is(monkeypatch):
    from pconv.evaluation import available_baselines, compare_methods

    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` now raises ImportError
    names = list(available_baselines())
    assert "telea" not in names and "biharmonic" in names
    image = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    mask = torch.ones(1, 16, 16)
    mask[:, 3:9, 3:9] = 0
    comparison = compare_methods({}, image, [mask], progress=False)
    assert comparison.methods == names
    wanted = ["telea", "harmonic", "biharmonic"]
    fig = plot_report(comparison.report(), methods=wanted)
    assert [ln.get_label() for ln in fig.axes[0].get_lines()] == ["harmonic", "biharmonic"]
    fills = {m: comparison.fills.get(m) for m in wanted}
    assert len(show_fills(comparison.image, comparison.mask, fills).axes) == 2 * 4
    assert len(show_errors(comparison.image, comparison.mask, fills).axes) == 2 * 3 + 1
    assert len(show_worst(comparison.image, comparison.mask, fills, n=1).axes) == 2


def png(path, value: int) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 4, 3), value, np.uint8)).save(path)
    return path.read_bytes()


def test_sample_slider_scrubs_through_the_saved_grids(tmp_path):
    run = tmp_path / "run"
    first = png(run / "samples" / "step_0000010.png", 10)
    last = png(run / "samples" / "step_0000200.png", 200)
    png(run / "samples" / "other.png", 0)  # not a step grid
    box = sample_slider(run)
    slider, picture = box.children
    assert [label for label, _ in slider.options] == ["10", "200"]
    assert picture.value == last  # the newest grid first
    slider.value = slider.options[0][1]
    assert picture.value == first


def test_sample_slider_picks_among_runs_and_says_when_there_is_nothing(tmp_path):
    one = png(tmp_path / "a" / "samples" / "step_0000005.png", 5)
    two = png(tmp_path / "b" / "samples" / "step_0000007.png", 7)
    (tmp_path / "c").mkdir()  # no samples: not offered
    box = sample_slider([tmp_path / "a", tmp_path / "b", tmp_path / "c"])
    picker, where, slider, picture = box.children
    assert picker.options == (("a", str(tmp_path / "a")), ("b", str(tmp_path / "b"))) and picture.value == one
    assert where.value == str(tmp_path / "a")  # the full path, under the short name
    picker.value = str(tmp_path / "b")
    assert (
        [label for label, _ in slider.options] == ["7"] and picture.value == two and where.value == str(tmp_path / "b")
    )


def test_sample_slider_names_runs_that_share_a_folder_name_by_their_parent_too(tmp_path):
    png(tmp_path / "x" / "run" / "samples" / "step_0000001.png", 1)
    png(tmp_path / "y" / "run" / "samples" / "step_0000002.png", 2)
    picker = sample_slider([tmp_path / "x" / "run", tmp_path / "y" / "run"]).children[0]
    assert [label for label, _ in picker.options] == ["x/run", "y/run"]
    note = sample_slider(tmp_path / "c").children
    assert len(note) == 1 and "No samples/step_*.png in" in note[0].value and "sample_every" in note[0].value


# 04's case: a few runs with long names and every classical fill, six hole bins
METHODS = ["quickstart-2000", "panel-20261207-161350-1", "a_run_name_with_no_blank_at_all", "biharmonic", "harmonic"]
METHODS += ["telea", "navier_stokes", "mean_fill"]


def many_methods(rows: int = 2):
    image, mask, _ = pictures(n=rows)
    fills = {m: (image + 0.05 * j * torch.rand_like(image)).clamp(0, 1) for j, m in enumerate(METHODS)}
    return image, mask, fills


def test_error_maps_with_many_long_names_have_no_overlapping_titles():
    image, mask, fills = many_methods()
    fig = show_errors(image, mask, fills, titles=["0-10%", "10-20%"])
    assert_readable(fig)
    assert fig.get_size_inches()[0] <= 12.0 + 1e-6
    head = [ax.get_title() for ax in fig.axes[1:9]]
    assert [h.replace("\n", "").rsplit("mean ", 1)[0] for h in head] == METHODS  # every name whole, wrapped


def test_the_old_error_map_titles_did_overlap():
    """The check above can fail: the titles as they were (name and mean on one 8-pt line, 16 inches) overlap."""
    image, mask, fills = many_methods(1)
    fig = show_errors(image, mask, fills)
    for ax, name in zip(fig.axes[1:9], METHODS):
        ax.set_title(f"{name}: mean 0.123", fontsize=8)
    assert overlapping_titles(fig)


def test_fills_worst_and_report_with_many_long_names_are_readable():
    image, mask, fills = many_methods()
    assert_readable(show_fills(image, mask, fills, titles=["0-10%", "10-20%"]))
    assert_readable(show_worst(image, mask, dict(list(fills.items())[:3]), n=2, titles=["0-10%", "10-20%"]))
    results = {m: {b: {"psnr": 30.0 - i + 0.1 * j, "ssim": 0.9, "l1": 0.01, "n": 2} for i, b in enumerate(BINS)}
               for j, m in enumerate(METHODS)}  # fmt: skip
    fig = plot_report(InpaintingReport(results=results, methods=METHODS, bins=list(BINS)))
    assert_readable(fig)  # the legend beside the axes: inside, it hid a line
    (legend,) = fig.legends
    assert [t.get_text().replace("\n", "") for t in legend.get_texts()] == METHODS
