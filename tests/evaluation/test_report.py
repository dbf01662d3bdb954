"""Tests for pconv.evaluation.report: the paper-style table (Liu et al. 2018, Table 1) in text, Markdown and HTML.

Built from hand-written results, so every cell is known: which method is best per bin
(higher PSNR/SSIM, lower L1), L1 shown in percent, an en dash for a bin without images,
the winners in bold, and the errors of `best`.
"""

from __future__ import annotations

import math

import pytest

from pconv.evaluation.report import EMPTY, METRICS, InpaintingReport


def cell(psnr: float, ssim: float, l1: float, n: int) -> dict[str, float]:
    return {"psnr": psnr, "ssim": ssim, "l1": l1, "n": n}


NAN = cell(math.nan, math.nan, math.nan, 0)


@pytest.fixture
def report() -> InpaintingReport:
    return InpaintingReport(
        results={
            "model": {"1-10%": cell(30.0, 0.9, 0.0123, 2), "10-20%": cell(20.0, 0.7, 0.05, 1), "50-60%": NAN},
            "mean_fill": {"1-10%": cell(25.0, 0.95, 0.02, 2), "10-20%": cell(22.5, 0.6, 0.04, 1), "50-60%": NAN},
        },
        methods=["model", "mean_fill"],
        bins=["1-10%", "10-20%", "50-60%"],
    )


def test_metrics_table_matches_the_paper():
    assert [(k, better) for k, _, better, _, _ in METRICS] == [("psnr", True), ("ssim", True), ("l1", False)]
    assert dict((k, scale) for k, _, _, scale, _ in METRICS)["l1"] == 100.0  # Table 1 gives L1 in percent


def test_best_per_metric_and_bin(report):
    assert report.best("psnr", "1-10%") == "model" and report.best("psnr", (0.1, 0.2)) == "mean_fill"
    assert report.best("ssim", "1-10%") == "mean_fill" and report.best("ssim", "10-20%") == "model"
    assert report.best("l1", "1-10%") == "model" and report.best("l1", "10-20%") == "mean_fill"  # lower wins
    with pytest.raises(ValueError, match="no images fell in bin '50-60%'"):
        report.best("psnr", "50-60%")
    with pytest.raises(KeyError, match="unknown metric 'fid'"):
        report.best("fid", "1-10%")
    with pytest.raises(KeyError, match="bin '20-30%'"):
        report.best("psnr", (0.2, 0.3))


def test_text_table(report):
    lines = report.to_text().splitlines()
    assert lines[0].split() == ["Metric", "Method", "1-10%", "10-20%", "50-60%"]
    assert set(lines[1]) <= {"-", " "}
    assert lines[2].split() == ["n", "(images)", "2", "1", "0"]
    assert len(lines) == 3 + len(METRICS) * 2
    psnr_model = next(line for line in lines if line.startswith("PSNR (dB)"))
    assert psnr_model.split()[2:] == ["model", "30.00", "20.00", EMPTY]
    assert lines[-2].split() == ["L1", "(%)", "model", "1.23", "5.00", EMPTY]  # a fraction shown in percent
    assert lines[-1].split() == ["mean_fill", "2.00", "4.00", EMPTY]  # the title only on a group's first row
    assert "nan" not in report.to_text()
    assert str(report) == report.to_text()


def test_markdown_and_html_bold_the_best_per_bin(report):
    md = report.to_markdown().splitlines()
    assert md[0] == "| Metric | Method | 1-10% | 10-20% | 50-60% |" and md[1] == "|:--|:--|--:|--:|--:|"
    assert "| PSNR (dB) | model | **30.00** | 20.00 | \u2013 |" in md
    assert "|  | mean_fill | 25.00 | **22.50** | \u2013 |" in md
    assert "| L1 (%) | model | **1.23** | 5.00 | \u2013 |" in md
    page = report.to_html()
    assert page.startswith("<table><thead><tr><th>Metric</th>") and page.endswith("</tbody></table>")
    assert "<b>30.00</b>" in page and "<b>20.00</b>" not in page and report._repr_html_() == page


def test_one_method_has_nothing_in_bold_and_html_is_escaped():
    alone = InpaintingReport({"<b>me</b>": {"1-10%": cell(30.0, 0.9, 0.01, 1)}}, ["<b>me</b>"], ["1-10%"])
    assert "**" not in alone.to_markdown()
    assert "&lt;b&gt;me&lt;/b&gt;" in alone.to_html() and "<b>30.00</b>" not in alone.to_html()
