"""pconv.evaluation.tables: the score tables of the evaluation report and the ablations' seed table."""

from __future__ import annotations

from pconv.evaluation.tables import html_table, markdown_table, text_table

HEADER = ["Metric", "Method", "1-10%", "10-20%"]
ROWS = [["PSNR", "partial", "30.10", "25.00"], ["", "<plain>", "9.50", "26.25"]]
BOLD = [[False, False, True, False], [False, False, False, True]]


def test_text_table_left_aligns_the_labels_and_right_aligns_the_numbers():
    assert text_table(HEADER, ROWS) == [
        "Metric  Method   1-10%  10-20%",
        "------  -------  -----  ------",
        "PSNR    partial  30.10   25.00",
        "        <plain>   9.50   26.25",
    ]


def test_markdown_table_marks_the_bold_cells_and_aligns_the_columns():
    assert markdown_table(HEADER, ROWS, BOLD) == [
        "| Metric | Method | 1-10% | 10-20% |",
        "|:--|:--|--:|--:|",
        "| PSNR | partial | **30.10** | 25.00 |",
        "|  | <plain> | 9.50 | **26.25** |",
    ]


def test_html_table_escapes_every_cell():
    out = html_table(HEADER, ROWS, BOLD)
    assert out.startswith("<table><thead><tr><th>Metric</th><th>Method</th><th>1-10%</th><th>10-20%</th></tr></thead>")
    assert "<td style='text-align:left'>&lt;plain&gt;</td>" in out and "<plain>" not in out
    assert "<td style='text-align:right'><b>30.10</b></td><td style='text-align:right'>25.00</td>" in out
    assert out.endswith("<td style='text-align:right'><b>26.25</b></td></tr></tbody></table>")
