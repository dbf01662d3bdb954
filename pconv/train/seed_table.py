"""A table of scores over seeds: each cell the mean and the spread of one value per seed.

The ablations of notebook 07 (`pconv.train.ablation_scores`) train every arm with several seeds;
a difference between arms means something only beside the spread between seeds of one arm. A
`SeedTable` keeps every per-seed value and shows `mean ± std` (the sample standard deviation,
n - 1), or the value alone where there is one (a deterministic classical fill). Rows come in
groups (a metric, e.g. "PSNR (dB)"); within a group the best mean of each column is bold when
the table knows which way is better. Text (the CLI), Markdown (benchmarks/RESULTS.md) and HTML
(notebooks), as `pconv.evaluation.report.InpaintingReport` renders the per-bin table.
"""

from __future__ import annotations

import html
import math
import statistics
from dataclasses import dataclass, field

from pconv.evaluation.tables import html_table, markdown_table, text_table

__all__ = ["SeedTable"]

EMPTY = "\u2013"  # an en dash marks a cell without values


@dataclass
class SeedTable:
    """Rows (group, name) x columns; each cell a list of per-seed values.

    Attributes:
        columns: column labels, in order.
        cells: {(group, row): {column: [value per seed]}}; row order is insertion order.
        formats: {group: format of a mean, e.g. "{:.2f}"}; "{:.3f}" where a group has none.
        higher_is_better: {group: True | False}; a group not named here gets no bold.
        notes: lines shown under the text and Markdown tables.
    """

    columns: list[str]
    cells: dict[tuple[str, str], dict[str, list[float]]] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, group: str, row: str, column: str, value: float) -> None:
        """Append one seed's `value` to a cell (made on first use); `column` must be one of `columns`."""
        if column not in self.columns:
            raise KeyError(f"unknown column {column!r}; the columns are {self.columns}")
        self.cells.setdefault((group, row), {}).setdefault(column, []).append(float(value))

    def values(self, group: str, row: str, column: str) -> list[float]:
        """The per-seed values of a cell (empty when it has none)."""
        return list(self.cells.get((group, row), {}).get(column, []))

    def mean(self, group: str, row: str, column: str) -> float:
        """The mean of a cell's values; NaN for an empty cell."""
        v = self.values(group, row, column)
        return math.fsum(v) / len(v) if v else math.nan

    def std(self, group: str, row: str, column: str) -> float:
        """The sample standard deviation (n - 1) of a cell's values; NaN with fewer than two."""
        v = self.values(group, row, column)
        return statistics.stdev(v) if len(v) > 1 else math.nan

    def text(self, group: str, row: str, column: str) -> str:
        """`22.10 ± 0.31`, `22.10` for a single value, an en dash for none."""
        v = self.values(group, row, column)
        if not v:
            return EMPTY
        fmt = self.formats.get(group, "{:.3f}")
        mean = fmt.format(self.mean(group, row, column))
        return mean if len(v) == 1 else f"{mean} \u00b1 {fmt.format(self.std(group, row, column))}"

    def best(self, group: str, column: str) -> str | None:
        """The row of `group` with the best mean in `column`; None without a direction or values."""
        if group not in self.higher_is_better:
            return None
        scored = [(self.mean(g, r, column), r) for g, r in self.cells if g == group and self.values(g, r, column)]
        if not scored:
            return None
        return (max if self.higher_is_better[group] else min)(scored)[1]

    def _table(self) -> tuple[list[str], list[list[str]], list[list[bool]]]:
        header = ["", "", *self.columns]
        rows, bold, last = [], [], None
        for group, row in self.cells:
            winners = [self.best(group, c) for c in self.columns]
            rows.append([group if group != last else "", row, *(self.text(group, row, c) for c in self.columns)])
            bold.append([False, False, *(w == row for w in winners)])
            last = group
        return header, rows, bold

    def to_text(self) -> str:
        """An aligned plain-text table, the notes below it."""
        header, rows, _ = self._table()
        return "\n".join([*text_table(header, rows), *self.notes])

    def to_markdown(self) -> str:
        """A GitHub Markdown table (for RESULTS.md), the best mean per column and group in bold."""
        return "\n".join(markdown_table(*self._table()) + ([""] + self.notes if self.notes else []))

    def to_html(self) -> str:
        """An HTML table (for notebooks), the best mean per column and group in bold, the notes below."""
        notes = "".join(f"<p style='font-size:smaller'>{html.escape(n)}</p>" for n in self.notes)
        return html_table(*self._table()) + notes

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.to_text()
