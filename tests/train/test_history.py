"""pconv.train.history: rows of a run, written atomically as history.json and history.csv."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from pconv.train.history import LossWindow, merge_row, record_best, write_history
from pconv.utils import WriteFailedError


def test_rows_merge_by_step_and_both_files_are_written(tmp_path):
    window, history = LossWindow(), []
    window.add({"total": 1.0})
    window.add(None)
    window.add({"total": 3.0})
    merge_row(history, window.row(2, 0.1))
    merge_row(history, {"step": 2, "val/psnr": 20.0})
    assert history == [{"step": 2, "lr": 0.1, "loss/total": 2.0, "skipped": 1, "val/psnr": 20.0}]
    write_history(history, tmp_path)
    assert json.loads((tmp_path / "history.json").read_text()) == history
    assert (tmp_path / "history.csv").read_text().splitlines()[0] == "step,lr,loss/total,skipped,val/psnr"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EACCES], ids=["enospc", "quota", "eacces"])
def test_a_failed_write_is_a_write_failure_leaving_the_previous_file_and_no_temporary_one(tmp_path, monkeypatch, code):
    write_history([{"step": 1, "lr": 0.1}], tmp_path)
    before = (tmp_path / "history.json").read_text()
    real = Path.write_text

    def half(self, text, *args, **kwargs):
        real(self, text[:5], *args, **kwargs)  # part of it reached the disk
        raise OSError(code, "write failed")

    monkeypatch.setattr(Path, "write_text", half)
    with pytest.raises(WriteFailedError, match="history.json") as e:
        write_history([{"step": 1, "lr": 0.1}, {"step": 2, "lr": 0.1}], tmp_path)
    assert e.value.errno == code
    monkeypatch.undo()
    assert (tmp_path / "history.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.csv", "history.json"]


def test_the_best_score_only_moves_up_and_a_nan_is_never_best():
    best = {"metric": "val/psnr", "value": None, "step": None}
    assert not record_best(best, {"step": 1, "loss/total": 0.5}, 1)  # no validation in the row
    assert record_best(best, {"val/psnr": 20.0}, 2) and best == {"metric": "val/psnr", "value": 20.0, "step": 2}
    assert not record_best(best, {"val/psnr": float("nan")}, 3)
    assert not record_best(best, {"val/psnr": 19.0}, 4) and not record_best(best, {"val/psnr": 20.0}, 5)
    assert record_best(best, {"val/psnr": 21.5}, 6) and (best["value"], best["step"]) == (21.5, 6)
