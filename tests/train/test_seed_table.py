"""Tests for pconv.train.seed_table: means and spreads over seeds against plain arithmetic, and the renderings."""

from __future__ import annotations

import math

import pytest

from pconv.train.seed_table import SeedTable


def table() -> SeedTable:
    t = SeedTable(columns=["a", "b"], formats={"PSNR": "{:.2f}"}, higher_is_better={"PSNR": True, "L1": False})
    for v in (20.0, 21.0, 23.0):
        t.add("PSNR", "partial", "a", v)
    for v in (22.0, 22.5, 23.5):
        t.add("PSNR", "plain", "a", v)
    t.add("PSNR", "telea", "a", 25.0)  # a deterministic fill: one value
    t.add("PSNR", "partial", "b", 10.0)
    t.add("L1", "partial", "a", 0.2)
    t.add("L1", "plain", "a", 0.1)
    t.notes.append("mean ± std over seeds [0, 1, 2]")
    return t


def test_mean_and_sample_std_match_the_formulas():
    t = table()
    values = [20.0, 21.0, 23.0]
    mean = sum(values) / 3
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (3 - 1))  # the sample standard deviation
    assert t.mean("PSNR", "partial", "a") == pytest.approx(mean)
    assert t.std("PSNR", "partial", "a") == pytest.approx(std)
    assert t.values("PSNR", "partial", "a") == values
    assert t.text("PSNR", "partial", "a") == f"{mean:.2f} \u00b1 {std:.2f}"
    assert t.text("PSNR", "telea", "a") == "25.00" and math.isnan(t.std("PSNR", "telea", "a"))
    assert t.text("PSNR", "telea", "b") == "\u2013" and math.isnan(t.mean("PSNR", "telea", "b"))
    assert t.text("L1", "plain", "a") == "0.100"  # a group without a format: three decimals


def test_best_follows_each_groups_direction():
    t = table()
    assert t.best("PSNR", "a") == "telea" and t.best("PSNR", "b") == "partial"
    assert t.best("L1", "a") == "plain"  # lower is better
    t.add("SSIM", "partial", "a", 0.5)
    assert t.best("SSIM", "a") is None  # no direction given: nothing is bold
    assert t.best("PSNR", "missing") is None


def test_an_unknown_column_is_refused():
    with pytest.raises(KeyError, match=r"unknown column 'c'; the columns are \['a', 'b'\]"):
        table().add("PSNR", "partial", "c", 1.0)


def test_markdown_bolds_the_best_and_keeps_the_notes():
    md = table().to_markdown().splitlines()
    assert md[0] == "|  |  | a | b |" and md[1] == "|:--|:--|--:|--:|"
    assert md[2].startswith("| PSNR | partial | 21.33 \u00b1 1.53 | **10.00** |")
    assert md[4] == "|  | telea | **25.00** | \u2013 |"  # the group is named on its first row only
    assert md[5].startswith("| L1 | partial |") and "**0.100**" in md[6]
    assert md[-1] == "mean ± std over seeds [0, 1, 2]"


def test_text_and_html():
    t = table()
    text = t.to_text().splitlines()
    assert len(text) == 2 + 5 + 1 and set(text[1].replace(" ", "")) == {"-"}
    assert text[2].split()[:2] == ["PSNR", "partial"] and str(t) == t.to_text()
    t.add("PSNR", "<b>x</b>", "a", 1.0)
    html = t._repr_html_()
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>25.00</b>" in html and "<p style='font-size:smaller'>mean" in html
