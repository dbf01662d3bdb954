"""Tests for pconv.cli.args: the argparse types of every `python -m pconv` flag, called directly.

Each type either returns the value the commands get (an int in range, a finite rate, an
absolute path) or raises `argparse.ArgumentTypeError` with a message that says what was
expected and what was given. The end-to-end path cases (every flag, every form a user
types) are in tests/cli/test_paths.py.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pytest
import torch

from pconv.cli import args
from pconv.pretrained import PRETRAINED
from pconv.train import SEED_MAX


def test_count_takes_integers_in_range_only():
    assert args.count(1)("3") == 3 and args.count(0, 5)("5") == 5 and args.count(1)("1" + "0" * 30) == 10**30
    for text, bound in (("0", args.count(1)), ("6", args.count(0, 5)), ("2.5", args.count(1)), ("x", args.count(1))):
        with pytest.raises(argparse.ArgumentTypeError, match=rf"expected an integer .*, got '{text}'"):
            bound(text)
    with pytest.raises(argparse.ArgumentTypeError, match=r"in \[0, 5\]"):
        args.count(0, 5)("-1")


def test_rate_is_a_finite_positive_number():
    assert args.rate("2e-4") == 2e-4 and args.rate("1") == 1.0
    for text in ("0", "-1e-3", "inf", "nan", "fast", ""):
        with pytest.raises(argparse.ArgumentTypeError, match="expected a finite number > 0"):
            args.rate(text)
    assert math.isfinite(args.rate("1e300"))


def test_device_accepts_what_this_machine_has():
    assert args.device("auto") == "auto" and args.device("cpu") == "cpu"
    with pytest.raises(argparse.ArgumentTypeError, match="expected auto, cpu, cuda, cuda:N or mps; got 'gpu'"):
        args.device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(argparse.ArgumentTypeError, match="CUDA is not available here.*got 'cuda'"):
            args.device("cuda")


def test_path_is_made_absolute_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert args.path("run") == tmp_path / "run" and args.path("./a/../b") == tmp_path / "a" / ".." / "b"
    assert args.path("~/run") == tmp_path / "home" / "run"  # a quoted ~ too: the shell left it alone
    for text in ("", "  "):
        with pytest.raises(argparse.ArgumentTypeError, match="an empty path was given"):
            args.path(text)


def test_output_and_folder_refuse_files_in_the_way(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x")
    assert args.output("new/deeper/out.pt") == tmp_path / "new" / "deeper" / "out.pt"
    with pytest.raises(argparse.ArgumentTypeError, match=f"file/out.pt: {tmp_path / 'file'} is a file, not a folder"):
        args.output("file/out.pt")
    assert args.folder("runs") == tmp_path / "runs" and args.folder(".") == tmp_path
    with pytest.raises(argparse.ArgumentTypeError, match="file is a file, not a folder; pass a folder"):
        args.folder("file")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    with pytest.raises(argparse.ArgumentTypeError, match=f"symbolic link to {tmp_path / 'gone'}, which does not"):
        args.folder("dangling")


def test_data_and_model_sources_keep_their_keywords(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert [args.data_source(k) for k in args.DATA_KEYWORDS] == ["samples", "celeba"]
    assert args.data_source("./samples") == tmp_path / "samples" and isinstance(args.data_source("x"), Path)
    name = next(iter(PRETRAINED))
    assert args.model_source(name) == name and args.model_source("w.pth") == tmp_path / "w.pth"


def test_size_bounds_and_seed_come_from_their_sources():
    assert args.SEED_MAX is SEED_MAX and args.MAX_IMAGE_SIZE <= args.MAX_MASK_SIZE
    assert 4 * args.MAX_MASK_SIZE**2 == 256 * 2**20  # one float32 mask of the largest side: 256 MiB
