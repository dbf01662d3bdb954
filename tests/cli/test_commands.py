"""Tests for pconv.cli.commands: `train`, `evaluate`, `masks` and `download`, called directly in smoke mode.

The arguments come from the real parser (`build_parser`), so they are what the commands
get on the command line; each command then runs as a function, and a problem the user can
fix is a `UsageError` raised before any work (`main` turns it into one line, exit 2: that
path is tested in tests/cli/test_errors.py and tests/cli/test_parser.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pconv.cli import commands
from pconv.cli.errors import UsageError
from pconv.cli.parser import build_parser
from pconv.nn import PConvUNet
from pconv.train import load_checkpoint, model_info, save_checkpoint

CPU = ["--device", "cpu", "--num-workers", "0"]


@pytest.fixture(autouse=True)
def smoke(monkeypatch):
    monkeypatch.setenv("PCONV_SMOKE", "1")  # the CLI's tiny configuration: 32 px, 3 layers, 4 steps


def parse(*argv: str):
    return build_parser().parse_args([str(a) for a in argv])


def tiny_checkpoint(path: Path, **config) -> Path:
    """A pconv inpainting checkpoint of a 3-layer, 8-channel PConvUNet for 32 px images."""
    model = PConvUNet(layers=3, base_channels=8)
    cfg = {"model": model_info(model), "task": "inpainting", "size": 32, **config}
    return save_checkpoint({"step": 3, "model": model.state_dict(), "config": cfg}, path)


def photos(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        Image.fromarray(np.full((40, 48, 3), 40 * i + 20, np.uint8)).save(folder / f"p{i}.png")
    return folder


def test_train_on_the_sample_photos_then_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert commands.train(parse("train", "--out", out, *CPU)) == 0
    assert capsys.readouterr().out.strip() == f"run folder: {out} (step 4/4)"
    assert load_checkpoint(out / "ckpt_4.pt")["config"]["model"]["kwargs"]["layers"] == 3
    assert commands.train(parse("train", "--out", out, "--resume", "--steps", "6", *CPU)) == 0
    assert load_checkpoint(out / "ckpt_6.pt")["step"] == 6


def test_train_on_a_folder_of_one_image_has_no_validation(tmp_path, capsys):
    data = photos(tmp_path / "one", 1)
    out = tmp_path / "run"
    assert commands.train(parse("train", "--data", data, "--out", out, "--batch-size", "1", *CPU)) == 0
    assert (out / "ckpt_4.pt").is_file() and "(step 4/4)" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--size", "36"], r"--size 36 must be a multiple of 2\*\*layers = 8 \(--layers 3\)"),
        (["--resume"], "--out .* does not exist: nothing to resume"),
        (["--data", "nowhere"], "--data .*nowhere: not 'samples', 'celeba' or an existing folder of images"),
        (["--data", "celeba"], "no CelebA at .*; get it with `python -m pconv download celeba`"),
        (["--data", "two", "--batch-size", "8"], "--batch-size 8 is larger than the training set"),
    ],
    ids=["size", "resume", "data", "celeba", "batch-size"],
)
def test_train_refuses_before_building_anything(tmp_path, monkeypatch, argv, needle):
    monkeypatch.chdir(tmp_path)
    photos(tmp_path / "two", 2)
    out = tmp_path / "run"
    with pytest.raises(UsageError, match=needle):
        commands.train(parse("train", "--out", out, *argv, *CPU))
    assert not (out / "ckpt_4.pt").exists()


def test_evaluate_a_checkpoint_against_the_shared_masks(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "c.pt")
    assert commands.evaluate(parse("evaluate", "--checkpoint", ckpt, "--device", "cpu")) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"checkpoint {ckpt} (step 3), 2 images, masks ")
    assert "PSNR (dB)" in text and "50-60%" in text and "model" in text
    argv = ("evaluate", "--checkpoint", ckpt, "--device", "cpu", "--num-images", "1000")
    assert commands.evaluate(parse(*argv)) == 0
    assert "--num-images 1000 is more than" in capsys.readouterr().err  # capped, with a note


@pytest.mark.parametrize(
    "config, extra, needle",
    [
        ({"task": "segmentation"}, [], "is a segmentation checkpoint; evaluate scores inpainting models"),
        ({"size": [32, 48]}, [], r"its config records size \[32, 48\]; evaluate needs a square side"),
        ({}, ["--masks", "nomasks"], "--masks .*nomasks: no manifest.json there"),
        ({}, ["--methods", "model,magic"], "unknown method 'magic'"),
    ],
    ids=["task", "size", "masks", "methods"],
)
def test_evaluate_refuses_what_it_cannot_score(tmp_path, monkeypatch, config, extra, needle):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nomasks").mkdir()
    ckpt = tiny_checkpoint(tmp_path / "c.pt", **config)
    with pytest.raises(UsageError, match=needle):
        commands.evaluate(parse("evaluate", "--checkpoint", ckpt, "--device", "cpu", *extra))


def test_masks_writes_a_set_and_overwrites_only_when_forced(tmp_path, capsys):
    out = tmp_path / "m"
    assert commands.masks(parse("masks", "--out", out, "--size", "32", "--per-bin", "1")) == 0
    assert capsys.readouterr().out.strip() == f"wrote 6 test masks to {out}"
    before = (out / "manifest.json").read_text()
    with pytest.raises(UsageError, match="--force"):
        commands.masks(parse("masks", "--out", out, "--size", "32", "--per-bin", "2"))
    assert (out / "manifest.json").read_text() == before
    assert commands.masks(parse("masks", "--out", out, "--size", "32", "--per-bin", "2", "--force")) == 0
    assert "wrote 12 test masks" in capsys.readouterr().out


def test_download_hands_name_and_folder_to_the_kaggle_client(tmp_path, monkeypatch, capsys):
    seen = []

    def fake(name, dest, *, competition, force):
        seen.append((name, dest, competition, force))
        if name == "nope":
            raise ValueError("unknown dataset 'nope'")
        return Path(dest) / name

    monkeypatch.setattr(commands, "kaggle_download", fake)
    assert commands.download(parse("download", "celeba", "--dest", tmp_path / "d", "--force")) == 0
    assert seen == [("celeba", tmp_path / "d", False, True)]
    assert capsys.readouterr().out.strip() == str(tmp_path / "d" / "celeba")
    with pytest.raises(UsageError, match="unknown dataset 'nope'"):
        commands.download(parse("download", "nope"))
