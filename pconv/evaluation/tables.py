"""Score tables as text, GitHub Markdown and HTML, for the reports of the evaluation and the ablations.

A table is a header, rows of strings and, per cell, whether it is bold (the best of its column).
The first two columns are labels (a group shown once, then a row name), left-aligned; the
rest are numbers, right-aligned.
"""

from __future__ import annotations

import html

__all__ = ["html_table", "markdown_table", "text_table"]

LABELS = 2  # label columns before the numbers


def text_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """The lines of an aligned plain-text table: the header, a rule, the rows."""
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]

    def line(r: list[str]) -> str:
        cells = (c.ljust(w) if j < LABELS else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths)))
        return "  ".join(cells).rstrip()

    return [line(header), line(["-" * w for w in widths]), *map(line, rows)]


def markdown_table(header: list[str], rows: list[list[str]], bold: list[list[bool]]) -> list[str]:
    """The lines of a GitHub Markdown table, bold cells in **."""
    align = [":--"] * LABELS + ["--:"] * (len(header) - LABELS)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    for r, b in zip(rows, bold):
        out.append("| " + " | ".join(f"**{c}**" if hit else c for c, hit in zip(r, b)) + " |")
    return out


def html_table(header: list[str], rows: list[list[str]], bold: list[list[bool]]) -> str:
    """An HTML table, every cell escaped, bold cells in <b>."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for r, b in zip(rows, bold):
        cells = "".join(
            f"<td style='text-align:{'left' if j < LABELS else 'right'}'>{'<b>' if hit else ''}"
            f"{html.escape(c)}{'</b>' if hit else ''}</td>"
            for j, (c, hit) in enumerate(zip(r, b))
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
