"""Tests for `python -m pconv`: help, train/resume/evaluate smoke runs, masks, user errors, DDP on CPU."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from pconv.checkpoint import load_checkpoint
from pconv.cli import SMOKE, TRAIN_FLAGS, build_parser, main
from pconv.config import TrainConfig

CPU = ["--device", "cpu", "--num-workers", "0"]


def run_module(args, env=None, timeout=240):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", **(env or {})}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture
def smoke(monkeypatch):
    monkeypatch.setenv("PCONV_SMOKE", "1")


def test_help_lists_every_flag(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    assert all(c in text for c in ("train", "evaluate", "masks", "download"))
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for flag in (
        "--data",
        "--size",
        "--steps",
        "--batch-size",
        "--lr",
        "--out",
        "--resume",
        "--amp",
        "--no-amp",
        "--device",
        "--layers",
        "--base-channels",
        "--finetune-steps",
    ):
        assert flag in text, flag
    for cmd, flags in (
        ("evaluate", ("--checkpoint", "--masks")),
        ("masks", ("--per-bin", "--seed")),
        ("download", ("--dest", "--force")),
    ):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        text = capsys.readouterr().out
        assert all(f in text for f in flags), cmd


def test_defaults_come_from_the_code_they_configure(monkeypatch):
    import inspect

    from pconv.losses import InpaintingLoss
    from pconv.masks import make_test_masks
    from pconv.models import PConvUNet

    args = build_parser().parse_args(["train"])
    config = TrainConfig()
    assert all(getattr(args, name) == getattr(config, name) for name in TRAIN_FLAGS)
    assert (args.out, args.device) == (config.out, config.device)
    model = inspect.signature(PConvUNet).parameters
    assert (args.layers, args.base_channels) == (model["layers"].default, model["base_channels"].default)
    assert args.vgg == inspect.signature(InpaintingLoss).parameters["vgg"].default
    masks = build_parser().parse_args(["masks", "--out", "m"])
    signature = inspect.signature(make_test_masks).parameters
    assert (masks.size, masks.per_bin, masks.seed) == tuple(signature[k].default for k in ("size", "per_bin", "seed"))
    # one source: change TrainConfig's default and the flag follows
    monkeypatch.setattr(TrainConfig.__dataclass_fields__["keep_last"], "default", 7)
    assert build_parser().parse_args(["train"]).keep_last == 7
    # PCONV_SMOKE=1 applies exactly the SMOKE table on top
    monkeypatch.setenv("PCONV_SMOKE", "1")
    smoke = build_parser().parse_args(["train"])
    assert all(getattr(smoke, k) == v for k, v in SMOKE.items() if hasattr(smoke, k))
    assert smoke.lr == config.lr and smoke.keep_last == 7


def test_train_resume_evaluate_smoke(tmp_path, smoke, capsys):
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *CPU]) == 0
    assert load_checkpoint(out / "ckpt_4.pt")["config"]["model"]["kwargs"]["layers"] == 3
    assert (out / "history.csv").exists() and (out / "best.pt").exists()

    assert main(["train", "--out", str(out), *CPU]) == 2  # never overwrites a run silently
    assert "--resume" in capsys.readouterr().err
    assert main(["train", "--out", str(out), "--resume", "--steps", "6", *CPU]) == 0
    assert load_checkpoint(out / "ckpt_6.pt")["step"] == 6

    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(out / "best.pt"), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "PSNR (dB)" in text and "model" in text and "50-60%" in text


def test_masks_command(tmp_path, capsys):
    assert main(["masks", "--out", str(tmp_path / "m"), "--size", "32", "--per-bin", "2"]) == 0
    assert "wrote 12 test masks" in capsys.readouterr().out
    assert (tmp_path / "m" / "manifest.json").exists()


def test_user_errors_are_one_line_exit_2(tmp_path, smoke, capsys):
    cases = [
        (["train", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "a")], "nowhere"),
        (["train", "--data", "celeba", "--out", str(tmp_path / "b")], "download celeba"),
        (["train", "--size", "36", "--out", str(tmp_path / "c")], "multiple of 2**layers"),
        (["evaluate", "--checkpoint", str(tmp_path / "missing.pt")], "missing.pt"),
    ]
    (tmp_path / "bad.pt").write_bytes(b"\x00" * 64)
    cases.append((["evaluate", "--checkpoint", str(tmp_path / "bad.pt")], "bad.pt"))
    for argv, needle in cases:
        assert main(argv + ["--device", "cpu"]) == 2, argv
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1 and "Traceback" not in err, err


def test_download_without_credentials(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
    env["HOME"] = str(tmp_path)
    env["KAGGLE_CONFIG_DIR"] = str(tmp_path / "no_kaggle")
    r = subprocess.run(
        [sys.executable, "-m", "pconv", "download", "celeba", "--dest", str(tmp_path / "celeba")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2, r.stderr
    assert "credentials" in r.stderr.lower() and "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1


@pytest.mark.slow
def test_ddp_two_cpu_ranks_stay_in_sync_and_resume(tmp_path, smoke):
    out, ranks = tmp_path / "ddp", tmp_path / "ranks"
    r = run_module(
        [
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node=2",
            "-m",
            "pconv",
            "train",
            "--out",
            str(out),
            "--steps",
            "3",
            "--sample-every",
            "100",
            *CPU,
        ],
        env={"PCONV_DEBUG_RANK_STATE": str(ranks)},
    )
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    rank0, rank1 = (torch.load(ranks / f"rank{i}.pt", weights_only=True) for i in (0, 1))
    ckpt = load_checkpoint(out / "ckpt_3.pt")
    assert ckpt["step"] == 3
    for k, v in rank0.items():
        assert torch.equal(v, ckpt["model"][k]), k
        if "running_" not in k and "num_batches" not in k:  # BN statistics are per rank, as in DDP
            assert torch.equal(v, rank1[k]), k
    assert main(["train", "--out", str(out), "--resume", "--steps", "4", *CPU]) == 0
    assert load_checkpoint(out / "ckpt_4.pt")["step"] == 4
