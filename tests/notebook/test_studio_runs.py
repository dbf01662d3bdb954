"""pconv.notebook.studio_runs: each run's checkpoints once, the trusted runs first, best first."""

from __future__ import annotations

import os

import torch

from pconv.nn import PConvUNet
from pconv.notebook.studio_runs import run_checkpoints
from pconv.train import model_info, save_checkpoint
from pconv.train.runs import MIN_STEPS


def _ckpt(path, step: int, seed: int, psnr: float | None = None, mtime: float = 1e9):
    torch.manual_seed(seed)
    model = PConvUNet(layers=2, base_channels=4, max_channels=8)
    ckpt = {"step": step, "model": model.state_dict(), "config": {"size": 32, "model": model_info(model)}}
    if psnr is not None:
        ckpt["best"] = {"metric": "val/psnr", "value": psnr, "step": step}
    save_checkpoint(ckpt, path)
    os.utime(path, (mtime, mtime))
    return path


def test_best_is_listed_once_when_it_holds_the_newest_step_s_weights(tmp_path):
    _ckpt(tmp_path / "same" / "ckpt_300.pt", 300, seed=1, psnr=20.0)
    _ckpt(tmp_path / "same" / "best.pt", 300, seed=1, psnr=20.0)  # written separately: bytes may differ
    _ckpt(tmp_path / "earlier" / "ckpt_300.pt", 300, seed=2, psnr=19.0)
    _ckpt(tmp_path / "earlier" / "best.pt", 200, seed=3, psnr=19.0)  # the best validation was earlier
    _ckpt(tmp_path / "retrained" / "ckpt_300.pt", 300, seed=4, psnr=18.0)
    _ckpt(tmp_path / "retrained" / "best.pt", 300, seed=5, psnr=18.0)  # same step, other weights
    names = [c.name for c in run_checkpoints(tmp_path)]
    assert names == ["same/best", "earlier/best", "earlier/step 300", "retrained/best", "retrained/step 300"]


def test_trusted_runs_come_first_by_score_the_others_after_newest_first(tmp_path):
    _ckpt(tmp_path / "good" / "ckpt_400.pt", 400, seed=1, psnr=21.0, mtime=1e9)
    _ckpt(tmp_path / "better" / "ckpt_250.pt", 250, seed=2, psnr=23.0, mtime=1e9)
    _ckpt(tmp_path / "smoke-old" / "ckpt_4.pt", 4, seed=3, psnr=40.0, mtime=2e9)
    _ckpt(tmp_path / "smoke-new" / "ckpt_2.pt", 2, seed=4, mtime=3e9)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "ckpt_900.pt").write_bytes(b"cut short")
    os.utime(tmp_path / "junk" / "ckpt_900.pt", (1.5e9, 1.5e9))
    listed = run_checkpoints(tmp_path)
    assert [c.name for c in listed] == [
        "better/step 250",
        "good/step 400",
        "smoke-new/step 2",
        "smoke-old/step 4",
        "junk/step 900",
    ]
    assert [c.trusted for c in listed] == [True, True, False, False, False]
    assert [c.steps for c in listed] == [250, 400, 2, 4, None]
    assert listed[0].detail == "250 steps, val PSNR 23.0 dB"
    assert listed[3].detail == "4 steps, val PSNR 40.0 dB, smoke/tiny run" and 4 < MIN_STEPS
    assert listed[4].detail == "cannot be read"
    assert run_checkpoints(tmp_path / "nowhere") == []
