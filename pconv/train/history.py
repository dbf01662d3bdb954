"""The history of a training run: loss means over each logging window, one row per logged step, the best score.

A row is a plain dict, `{"step", "lr", "loss/<term>", ..., "skipped", "val/<metric>", ...}`,
so the list of rows goes into every checkpoint as it is, is drawn by
`pconv.evaluation.figures.plot_history`, and is written next to the checkpoints as history.json
and history.csv (for a spreadsheet or pandas), each atomically: a failed write (a full disk)
raises `pconv.utils.WriteFailedError` and leaves the previous file and no temporary one.
The best validation score so far, `{"metric", "value", "step"}`, decides when best.pt is written.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pconv.utils import writing

__all__ = ["LossWindow", "merge_row", "record_best", "write_history"]


class LossWindow:
    """Loss terms of the steps since the last row; `row` turns them into means and starts over."""

    def __init__(self) -> None:
        self.terms: dict[str, list[float]] = {}
        self.skipped = 0

    def add(self, terms: dict[str, float] | None) -> None:
        """Count one step: its loss terms, or None for a skipped (non-finite) step."""
        if terms is None:
            self.skipped += 1
        for k, v in (terms or {}).items():
            self.terms.setdefault(k, []).append(v)

    def __bool__(self) -> bool:
        return bool(self.terms) or self.skipped > 0

    def row(self, step: int, lr: float) -> dict[str, Any]:
        """{"step", "lr", "loss/<term>" means, "skipped"}; the window is emptied."""
        row: dict[str, Any] = {"step": step, "lr": lr}
        row.update({f"loss/{k}": sum(v) / len(v) for k, v in self.terms.items()})
        row["skipped"] = self.skipped
        self.terms, self.skipped = {}, 0
        return row


def merge_row(history: list[dict[str, Any]], row: dict[str, Any]) -> None:
    """Append `row`, or update the last row when it is of the same step (a validation after a log)."""
    if history and history[-1]["step"] == row["step"]:
        history[-1].update(row)
    else:
        history.append(row)


def record_best(best: dict[str, Any], row: dict[str, Any], step: int) -> bool:
    """Take `row`'s score as the new best when it beats `best` (higher is better); a NaN score never does.

    Args:
        best: {"metric": "val/<name>", "value": float or None, "step": int or None}; updated in place.
        row: a history row; one without `best["metric"]` changes nothing.
        step: the step of `row`.

    Returns:
        True when `best` was updated.
    """
    value = row.get(best["metric"])
    improved = value is not None and math.isfinite(value) and (best["value"] is None or value > best["value"])
    if improved:
        best.update(value=value, step=step)
    return improved


def _replace_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with writing(path, "history file"):
            tmp.write_text(text, encoding="utf-8", newline="")  # as given: the csv module chose the line ends
            os.replace(tmp, path)  # readers never see half a file
    finally:
        tmp.unlink(missing_ok=True)  # after a failure; a success renamed it away


def write_history(history: Sequence[dict[str, Any]], out: str | os.PathLike) -> None:
    """Write `history` to out/history.json and out/history.csv (columns: union of keys).

    Raises:
        WriteFailedError: a full disk or permissions; the previous files are left as they were.
    """
    out = Path(out)
    with writing(out, "history folder"):
        out.mkdir(parents=True, exist_ok=True)
    _replace_text(out / "history.json", json.dumps(list(history), indent=1))
    keys: list[str] = []
    for row in history:
        keys += [k for k in row if k not in keys]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    _replace_text(out / "history.csv", text.getvalue())
