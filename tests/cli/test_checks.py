"""pconv.cli.checks: --resume and --batch-size refused, with what to pass, before a model is built."""

from __future__ import annotations

import pytest
import torch

from pconv.cli.checks import check_batch_size, check_resumable
from pconv.cli.errors import UsageError
from pconv.train import save_checkpoint


def test_check_resumable_needs_a_folder_with_a_checkpoint(tmp_path):
    with pytest.raises(UsageError, match="--resume needs --out"):
        check_resumable(None)
    with pytest.raises(UsageError, match="does not exist: nothing to resume"):
        check_resumable(tmp_path / "nowhere")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").touch()
    with pytest.raises(UsageError, match=r"holds no checkpoint \(ckpt_<step>.pt or best.pt\)"):
        check_resumable(tmp_path / "run")
    save_checkpoint({"step": 2, "model": {"w": torch.zeros(1)}, "config": {}}, tmp_path / "run" / "ckpt_2.pt")
    check_resumable(tmp_path / "run")  # a run to continue: no error
    (tmp_path / "best_only").mkdir()
    save_checkpoint({"step": 2, "model": {"w": torch.zeros(1)}, "config": {}}, tmp_path / "best_only" / "best.pt")
    check_resumable(tmp_path / "best_only")


def test_check_batch_size_names_the_data_and_the_largest_batch_per_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    check_batch_size(8, "samples", 8)  # exactly full: fine
    message = "--batch-size 9 is larger than the training set: --data samples gives 8 images; pass --batch-size 8"
    with pytest.raises(UsageError, match=message):
        check_batch_size(9, "samples", 8)
    monkeypatch.setenv("WORLD_SIZE", "3")  # torchrun: each process gets ceil(8 / 3) = 3
    with pytest.raises(UsageError, match=r"gives 3 images per process \(3 processes\); pass --batch-size 3"):
        check_batch_size(4, "samples", 8)
