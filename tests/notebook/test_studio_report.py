"""pconv.notebook.studio_report: the folder a studio session leaves behind, and the side-by-side figure."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from pconv.evaluation import available_baselines
from pconv.notebook import comparison_figure
from pconv.notebook.studio_report import write_folder

FAST = [n for n in ("harmonic", "telea", "mean_fill") if n in available_baselines()]


def test_the_comparison_figure_has_the_input_and_one_panel_per_method(studio):
    studio.paint([(10, 10)], 5)
    fig = comparison_figure(studio.image, studio.mask, studio.run(FAST), studio.times)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 1 + len(FAST) and titles[0].startswith("input, ") and titles[1].startswith(FAST[0])


def test_write_folder_keeps_the_results_it_can_write(tmp_path):
    rgb, hole = np.zeros((4, 5, 3), np.uint8), np.zeros((4, 5), bool)
    good, nan = torch.rand(3, 4, 5), torch.full((3, 4, 5), float("nan"))
    with pytest.warns(UserWarning, match="without 2 result"):
        folder = write_folder(tmp_path / "s", rgb, hole, {"a": good, "nan": nan, "shape": torch.rand(5, 4, 5)}, {}, {})
    info = json.loads((folder / "studio.json").read_text())
    assert set(info["methods"]) == {"a"} and set(info["not_saved"]) == {"nan", "shape"}
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "image.png", "mask.png", "studio.json"]
