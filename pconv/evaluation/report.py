"""Hole-ratio bins and the paper-style evaluation table: methods x bins, cells PSNR / SSIM / L1.

`pconv.evaluation.inpainting.evaluate_inpainting` fills an `InpaintingReport`; it renders as text
(CLI), Markdown (benchmarks/RESULTS.md) and HTML (notebooks, best value per bin in bold).
Liu et al. 2018 (arXiv:1804.07723), Table 1, reports the same layout. The bins and their
rule are `pconv.data.hole_bins`, shared with the mask generator.
"""

from __future__ import annotations

from dataclasses import dataclass

from pconv.data import bin_label
from pconv.evaluation.tables import html_table, markdown_table, text_table

__all__ = ["EMPTY", "METRICS", "InpaintingReport"]

EMPTY = "\u2013"  # an en dash marks a bin without images
# key, title, higher is better, display scale, format: L1 shown in percent as in the paper's Table 1
METRICS = (
    ("psnr", "PSNR (dB)", True, 1.0, "{:.2f}"),
    ("ssim", "SSIM", True, 1.0, "{:.3f}"),
    ("l1", "L1 (%)", False, 100.0, "{:.2f}"),
)


@dataclass
class InpaintingReport:
    """Mean PSNR / SSIM / L1 per method and hole-ratio bin, from `evaluate_inpainting`.

    Attributes:
        results: `results[method][bin_label] = {"psnr", "ssim", "l1": mean, "n": count}`;
            means are NaN where n == 0. L1 is a fraction here (the tables show percent).
        methods: row order.
        bins: column labels, e.g. "1-10%", ..., "50-60%".
    """

    results: dict[str, dict[str, dict[str, float]]]
    methods: list[str]
    bins: list[str]

    def best(self, metric: str, hole_bin: str | tuple[float, float]) -> str:
        """The method with the best mean `metric` ("psnr", "ssim" or "l1") in one bin.

        Raises:
            KeyError: unknown metric or bin. ValueError: no method has images in that bin.
        """
        label = hole_bin if isinstance(hole_bin, str) else bin_label(hole_bin)
        higher = {k: h for k, _, h, _, _ in METRICS}
        if metric not in higher or label not in self.bins:
            raise KeyError(f"unknown metric {metric!r} or bin {label!r}; bins: {self.bins}")
        scored = [(self.results[m][label][metric], m) for m in self.methods if self.results[m][label]["n"]]
        if not scored:
            raise ValueError(f"no images fell in bin {label!r}")
        return (max if higher[metric] else min)(scored)[1]

    def _table(self) -> tuple[list[str], list[list[str]], list[list[bool]]]:
        """Header, rows (metric, method, cells...) and which cells are the best of their group."""
        header = ["Metric", "Method", *self.bins]
        first = self.methods[0]
        rows = [["n", "(images)", *[str(self.results[first][b]["n"]) for b in self.bins]]]
        bold = [[False] * len(header)]
        for key, title, _, scale, fmt in METRICS:
            winners = {}
            for b in self.bins:
                try:
                    winners[b] = self.best(key, b) if len(self.methods) > 1 else None
                except ValueError:
                    winners[b] = None
            for i, m in enumerate(self.methods):
                cells = [self.results[m][b] for b in self.bins]
                shown = [fmt.format(c[key] * scale) if c["n"] else EMPTY for c in cells]
                rows.append([title if i == 0 else "", m, *shown])
                bold.append([False, False, *[winners[b] == m for b in self.bins]])
        return header, rows, bold

    def to_text(self) -> str:
        """An aligned plain-text table (for the CLI): metric groups of one row per method."""
        header, rows, _ = self._table()
        return "\n".join(text_table(header, rows))

    def to_markdown(self) -> str:
        """A GitHub Markdown table (for RESULTS.md), the best method per bin in bold."""
        return "\n".join(markdown_table(*self._table()))

    def to_html(self) -> str:
        """An HTML table (for notebooks), the best method per bin in bold."""
        return html_table(*self._table())

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.to_text()


# ---------------------------------------------------------------- evaluation
