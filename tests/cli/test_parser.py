"""Tests for `python -m pconv`: help, train/resume/evaluate smoke runs, masks, user errors, DDP on CPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import PurePosixPath

import pytest
import torch
from run_lock import hold_lock
from source_nets import naoto_file, register

from pconv.cli.parser import TRAIN_FLAGS, build_parser, main
from pconv.data import find_images, make_test_masks
from pconv.data.image_folder import split_files
from pconv.nn import InpaintingLoss, PConvUNet
from pconv.pretrained import cache_path, sha256_of
from pconv.train import SIZES, TrainConfig, load_checkpoint
from pconv.train import run_folder as runfolder

SMOKE = SIZES["cli", "smoke"]  # what PCONV_SMOKE=1 changes in the CLI's defaults

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
    # PCONV_SMOKE=1 applies exactly the sizing table's ("cli", "smoke") row on top
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


def test_masks_refuses_an_existing_set_unless_forced(tmp_path, capsys):
    """Issue 23 BAD 9: `masks --out` overwrote an existing set without asking."""
    import json

    out = str(tmp_path / "m")
    assert main(["masks", "--out", out, "--size", "32", "--per-bin", "1", "--seed", "1"]) == 0
    before = (tmp_path / "m" / "manifest.json").read_text()
    capsys.readouterr()
    assert main(["masks", "--out", out, "--size", "32", "--per-bin", "2"]) == 2
    err = capsys.readouterr().err
    assert out in err and "--force" in err and err.count("\n") == 1 and "=True" not in err
    assert (tmp_path / "m" / "manifest.json").read_text() == before  # untouched
    assert main(["masks", "--out", out, "--size", "32", "--per-bin", "2", "--force"]) == 0
    assert json.loads((tmp_path / "m" / "manifest.json").read_text())["per_bin"] == 2


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


def flag_error(capsys, argv):
    """Run main(argv); return stderr after checking the contract: exit 2, one line, no traceback."""
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


TRAIN_FLAG_ERRORS = [
    (["--size", "0"], "--size"),
    (["--size", "-32"], "--size"),
    (["--steps", "0"], "--steps"),
    (["--steps", "-5"], "--steps"),
    (["--steps", "many"], "--steps"),
    (["--batch-size", "0"], "--batch-size"),
    (["--lr", "0"], "--lr"),
    (["--lr", "-1e-4"], "--lr"),
    (["--lr", "inf"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--finetune-lr", "inf"], "--finetune-lr"),
    (["--grad-clip", "0"], "--grad-clip"),
    (["--keep-last", "0"], "--keep-last"),
    (["--num-workers", "-1"], "--num-workers"),
    (["--warmup-steps", "-1"], "--warmup-steps"),
    (["--log-every", "0"], "--log-every"),
    (["--seed", "-1"], "--seed"),
    (["--layers", "0"], "--layers"),
    (["--base-channels", "0"], "--base-channels"),
    (["--device", "tpu9"], "--device"),
    (["--finetune-steps", "9", "--steps", "4"], "--finetune-steps"),
    (["--schedule", "zigzag"], "--schedule"),
]


@pytest.mark.parametrize("flags, flag", TRAIN_FLAG_ERRORS, ids=[" ".join(f) for f, _ in TRAIN_FLAG_ERRORS])
def test_every_train_flag_error_is_one_line_naming_the_flag(tmp_path, smoke, capsys, flags, flag):
    err = flag_error(capsys, ["train", "--out", str(tmp_path / "run"), *flags])
    assert flag in err and "--help" in err
    assert not (tmp_path / "run").exists()  # refused before anything was written


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is there")
def test_cuda_without_cuda_is_a_flag_error(tmp_path, capsys):
    assert "CUDA is not available" in flag_error(capsys, ["train", "--out", str(tmp_path / "r"), "--device", "cuda"])


def test_out_that_is_a_file_or_unwritable_is_a_flag_error(tmp_path, smoke, capsys, monkeypatch):
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    err = flag_error(capsys, ["train", "--out", str(notes), *CPU])
    assert "--out" in err and "is a file" in err and notes.read_text() == "mine"
    err = flag_error(capsys, ["masks", "--out", str(notes)])
    assert "--out" in err and "is a file" in err

    def refused(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(runfolder, "open", refused, raising=False)
    err = flag_error(capsys, ["train", "--out", str(tmp_path / "ro"), *CPU])
    assert "--out" in err and "cannot write" in err and "Permission denied" in err


OTHER_FLAG_ERRORS = [
    (["evaluate", "--checkpoint", "x.pt", "--num-images", "0"], "--num-images"),
    (["evaluate", "--checkpoint", "x.pt", "--per-bin", "0"], "--per-bin"),
    (["evaluate", "--checkpoint", "x.pt", "--device", "gpu!"], "--device"),
    (["evaluate"], "--checkpoint"),
    (["masks", "--out", "m", "--per-bin", "0"], "--per-bin"),
    (["masks", "--out", "m", "--seed", "-1"], "--seed"),
    (["masks", "--out", "m", "--size", "0"], "--size"),
    (["fly"], "invalid choice"),
    ([], "required"),
]


@pytest.mark.parametrize(
    "argv, needle", OTHER_FLAG_ERRORS, ids=[" ".join(a) or "nothing" for a, _ in OTHER_FLAG_ERRORS]
)
def test_every_other_flag_error_is_one_line(tmp_path, capsys, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    assert needle in flag_error(capsys, argv)
    assert not (tmp_path / "m").exists()


def test_help_documents_the_exit_codes(capsys):
    import re

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    patterns = (r"\b0 finished", r"\b1 training diverged", r"\b2 an error", r"\b129 .*SIGHUP", r"\b130 .*SIGINT")
    for pattern in (*patterns, r"\b143 .*SIGTERM"):
        assert re.search(pattern, text), pattern


def test_lr_inf_is_refused_and_a_diverging_run_exits_1(tmp_path, smoke, capsys):
    assert "--lr" in flag_error(capsys, ["train", "--out", str(tmp_path / "a"), "--lr", "inf", *CPU])
    out = tmp_path / "b"  # lr 1e30: finite, accepted, and the weights blow up
    assert main(["train", "--out", str(out), "--lr", "1e30", "--steps", "6", "--checkpoint-every", "1", *CPU]) == 1
    err = capsys.readouterr().err
    assert "diverged" in err or "not finite" in err
    for path in out.glob("*.pt"):
        assert all(torch.isfinite(v.float()).all() for v in load_checkpoint(path)["model"].values()), path


def test_a_run_folder_in_use_is_refused_with_the_holder_pid(tmp_path, smoke, capsys):
    holder = hold_lock(tmp_path / "run")
    try:
        err = flag_error(capsys, ["train", "--out", str(tmp_path / "run"), *CPU])
        assert str(tmp_path / "run") in err and f"PID {holder.pid}" in err
    finally:
        holder.stdin.close()
        holder.wait(60)


def test_resume_with_other_layers_says_which_layers_the_checkpoint_has(tmp_path, smoke, capsys):
    out = str(tmp_path / "run")
    assert main(["train", "--out", out, "--steps", "2", *CPU]) == 0
    err = flag_error(capsys, ["train", "--out", out, "--resume", "--layers", "4", *CPU])
    assert "layers=3" in err and "--layers 3" in err


def test_evaluate_a_folder_or_an_untrusted_file(tmp_path, capsys):
    err = flag_error(capsys, ["evaluate", "--checkpoint", str(tmp_path), "--device", "cpu"])
    assert "is a folder" in err and "does not exist" not in err
    torch.save({"step": 1, "model": {}, "x": PurePosixPath("a Python object")}, tmp_path / "odd.pt")
    err = flag_error(capsys, ["evaluate", "--checkpoint", str(tmp_path / "odd.pt"), "--device", "cpu"])
    assert "not a checkpoint pconv trusts" in err and "weights_only=False" not in err


@pytest.mark.usefixtures("default_stop_signals")  # the child inherits them live
@pytest.mark.parametrize("signame, code", [("SIGINT", 130), ("SIGTERM", 143), ("SIGHUP", 129)])
def test_a_signal_saves_a_checkpoint_and_exits_with_its_code(tmp_path, signame, code):
    import signal
    import time

    out = tmp_path / "run"
    many = ["--steps", "100000", "--checkpoint-every", "100000", "--val-every", "100000", "--sample-every", "100000"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "PCONV_SMOKE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pconv", "train", "--out", str(out), *many, *CPU],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 300
    while not (out / "history.json").exists():  # training has begun
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    proc.send_signal(getattr(signal, signame))
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == code, stderr[-3000:]
    assert signame in stderr and "--resume" in stderr and "Traceback" not in stderr
    (path,) = out.glob("ckpt_*.pt")
    assert load_checkpoint(path)["step"] >= 1


def random_photos(folder, names):
    """Write a 40x48 PNG of random colours at folder/<name> for each name; returns the folder."""
    import numpy as np
    from PIL import Image

    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in names:
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / name)
    return folder


def test_train_on_a_folder_of_images(tmp_path, smoke, capsys):
    photos = random_photos(tmp_path / "photos", [f"p{i}.png" for i in range(8)])
    train_files, _ = split_files(find_images(photos), 0.1, 0)
    train_files[0].write_bytes(b"not a png")  # one unreadable file among the training images
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="unreadable"):  # reported, then skipped
        assert main(["train", "--data", str(photos), "--out", str(out), "--val-every", "2", "--steps", "2", *CPU]) == 0
    history = load_checkpoint(out / "ckpt_2.pt")["history"]
    assert "val/psnr" in history[-1]


def test_train_with_an_unreadable_image_where_validation_would_be(tmp_path, smoke, capsys):
    """Issue 15.10: the one bad file used to be the whole validation split and aborted the run."""
    photos = random_photos(tmp_path / "photos", [f"p{i}.png" for i in range(8)])
    _, (val_file,) = split_files(find_images(photos), 0.1, 0)  # the file the old split held out
    val_file.write_bytes(b"not a png")
    out = tmp_path / "run"
    with pytest.warns(UserWarning, match="unreadable"):
        assert main(["train", "--data", str(photos), "--out", str(out), "--val-every", "2", "--steps", "2", *CPU]) == 0
    assert "val/psnr" in load_checkpoint(out / "ckpt_2.pt")["history"][-1]

    two = random_photos(tmp_path / "two", ["good.png"])
    (two / "bad.png").write_bytes(b"not a png")
    with pytest.warns(UserWarning, match="unreadable"):
        code = main(["train", "--data", str(two), "--out", str(tmp_path / "run2"), "--steps", "2", *CPU])
    err = capsys.readouterr().err
    assert code == 2 and "--data" in err and "readable" in err and "Traceback" not in err


def test_pretrained_list_download_convert_and_evaluate(tmp_path, smoke, capsys, monkeypatch):
    monkeypatch.setenv("PCONV_DATA_DIR", str(tmp_path / "data"))  # this test's own cache
    src = naoto_file(tmp_path / "1000000.pth")  # layers=4: scored at the entry's resolution, 32 px
    register(monkeypatch, "test-naoto", src, sha256=sha256_of(src))
    assert main(["pretrained", "list"]) == 0
    text = capsys.readouterr().out
    assert "mmagic-celeba" in text and "25.404" in text and "0.853" in text
    assert [line.split()[-1] for line in text.splitlines() if line.startswith("test-naoto")] == ["no"]

    assert main(["pretrained", "download", "test-naoto"]) == 0
    assert capsys.readouterr().out.strip() == str(cache_path("test-naoto"))
    assert main(["pretrained", "list"]) == 0
    assert [line.split()[-1] for line in capsys.readouterr().out.splitlines() if "test-naoto" in line] == ["yes"]

    assert main(["evaluate", "--pretrained", "test-naoto", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("pretrained test-naoto, 2 images") and "PSNR (dB)" in text and "model" in text

    out = tmp_path / "naoto.pt"
    assert main(["pretrained", "convert", "test-naoto", str(out)]) == 0
    assert f"evaluate --checkpoint {out}" in capsys.readouterr().out
    ckpt = load_checkpoint(out)
    assert ckpt["config"]["size"] == 32 and ckpt["config"]["pretrained"]["sha256"] == sha256_of(src)
    assert ckpt["config"]["model"]["kwargs"]["normalize"][0] == [0.485, 0.456, 0.406]
    assert main(["evaluate", "--checkpoint", str(out), "--device", "cpu"]) == 0
    assert capsys.readouterr().out.startswith(f"checkpoint {out} (step 0), 2 images")
    assert main(["pretrained", "convert", str(src), str(tmp_path / "file.pt"), "--source", "naoto"]) == 0
    assert load_checkpoint(tmp_path / "file.pt")["config"]["size"] == 256  # a file: the public checkpoints' size


def test_pretrained_errors_are_one_line_exit_2(tmp_path, capsys, monkeypatch):
    import socket

    monkeypatch.setenv("PCONV_DATA_DIR", str(tmp_path / "data"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/1000000.pth"
    register(monkeypatch, "test-offline", None, url=url)
    (tmp_path / "garbage.pth").write_bytes(b"GIF89a, not a torch file " * 20)  # fixed bytes: random ones may parse
    mine = tmp_path / "mine.pt"
    mine.write_bytes(b"a checkpoint of the user's")
    cases = [
        (["pretrained", "download", "nope"], "no pretrained model named 'nope'; known: naoto-places2"),
        (["pretrained", "download", "test-offline"], f"cannot download test-offline from {url}"),
        (["evaluate", "--pretrained", "test-offline"], "put it at " + str(tmp_path / "data" / "pretrained")),
        (["pretrained", "convert", str(tmp_path / "garbage.pth"), str(tmp_path / "g.pt")], "garbage.pth is not a"),
        (["pretrained", "convert", "mmagic-celeba", str(mine)], "mine.pt exists; pconv does not overwrite it"),
        (["pretrained", "convert", "x.pth", "y.pt", "--source", "nvidia"], "--source"),
        (["evaluate", "--pretrained", "a", "--checkpoint", "b.pt"], "not allowed with argument"),
        (["pretrained"], "required"),
    ]
    for argv, needle in cases:
        assert needle in flag_error(capsys, argv), argv
    assert mine.read_bytes() == b"a checkpoint of the user's" and not (tmp_path / "g.pt").exists()
