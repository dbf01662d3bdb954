"""Tests for pconv.cli.segment: `python -m pconv segment` trains the U-Net (zero or partial padding),
resumes with the run's own settings, prints the held-out scores, and refuses what a user can fix
in one line with exit status 2 (through `pconv.cli.main`, as on the command line)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image

from pconv.cli import main
from pconv.data import SyntheticShapesDataset
from pconv.evaluation import border_dice, per_image_scores, predict_probs
from pconv.nn import PConvUNet
from pconv.train import SIZES, load_checkpoint, model_from_checkpoint, model_info, save_checkpoint

TINY = ["--features", "4", "8", "--size", "20", "24", "--steps", "2", "--batch-size", "2", "--device", "cpu"]
TINY += ["--num-workers", "0"]
SCORES = re.compile(
    r"held-out Dice (\S+), IoU (\S+), Dice within (\d+) px of the border (\S+) \((\d+) images; weights of (\S+), step"
)


@pytest.fixture(autouse=True)
def smoke(monkeypatch):
    monkeypatch.setenv("PCONV_SMOKE", "1")  # the ("unet_segmentation", "smoke") row: 8 + 4 synthetic images


def run(*argv) -> int:
    return main(["segment", *[str(a) for a in argv]])


def test_partial_padding_trains_scores_and_resumes_with_its_own_settings(tmp_path, capsys):
    out = tmp_path / "run"
    assert run("--padding", "partial", "--border-width", "6", "--out", out, *TINY) == 0
    text = capsys.readouterr().out
    assert f"run folder: {out} (step 2/2), UNet(4, 8), padding partial" in text
    ckpt = load_checkpoint(out / "ckpt_2.pt")
    assert ckpt["config"]["model"]["kwargs"]["padding"] == "partial" and ckpt["config"]["size"] == [20, 24]
    # The printed scores are those of the checkpoint it names, over every held-out image.
    dice, iou, width, border, n, name = SCORES.search(text).groups()
    model = model_from_checkpoint(out / name)
    assert model.config["padding"] == "partial" and int(width) == 6
    val = SyntheticShapesDataset((20, 24), length=4, split="val", seed=0)
    scores = per_image_scores(model, val)
    assert int(n) == 4
    assert abs(float(dice) - float(scores["dice"].mean())) < 1e-4
    assert abs(float(iou) - float(scores["iou"].mean())) < 1e-4
    images, masks = torch.stack([val[i]["image"] for i in range(4)]), torch.stack([val[i]["mask"] for i in range(4)])
    assert abs(float(border) - float(border_dice(predict_probs(model, images), masks, 6))) < 1e-4

    # --resume without model flags: the run's own network and sizes; only --steps changes
    assert run("--out", out, "--resume", "--steps", "3", "--device", "cpu", "--num-workers", "0") == 0
    ckpt = load_checkpoint(out / "ckpt_3.pt")
    assert ckpt["config"]["model"]["kwargs"] == {
        "in_channels": 3, "out_channels": 1, "features": [4, 8], "bilinear": False, "padding": "partial"
    }  # fmt: skip
    assert ckpt["config"]["size"] == [20, 24] and ckpt["config"]["batch_size"] == 2
    assert "(step 3/3), UNet(4, 8), padding partial" in capsys.readouterr().out

    # --resume with a network other than the run's: refused, naming the flag and the run's value
    assert run("--out", out, "--resume", "--padding", "zeros", "--steps", "4", "--device", "cpu") == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"pconv segment: error: --padding zeros: the run in --out {out} was trained with padding partial; "
        "leave --padding out to continue it, or start a new run in another --out"
    )
    assert not (out / "ckpt_4.pt").exists()


def fake_carvana(root, cars: int = 4, views: int = 2):
    """Kaggle's Carvana layout in miniature: <car>_<NN>.jpg and <car>_<NN>_mask.png, a bright box on dark ground."""
    (root / "train").mkdir(parents=True)
    (root / "train_masks").mkdir()
    rng = np.random.default_rng(0)
    for c in range(cars):
        for v in range(1, views + 1):
            mask = np.zeros((30, 45), np.uint8)
            y, x = rng.integers(2, 12), rng.integers(2, 20)
            mask[y : y + 14, x : x + 20] = 255
            Image.fromarray(np.where(mask[..., None] > 0, 220, 30).astype(np.uint8).repeat(3, 2)).save(
                root / "train" / f"car{c:04d}_{v:02d}.jpg"
            )
            Image.fromarray(mask).save(root / "train_masks" / f"car{c:04d}_{v:02d}_mask.png")
    return root


def test_a_folder_in_carvanas_layout_with_zero_padding(tmp_path, capsys):
    data, out = fake_carvana(tmp_path / "cars"), tmp_path / "run"
    assert run("--data", data, "--out", out, "--bilinear", *TINY) == 0
    text = capsys.readouterr().out
    assert "UNet(4, 8), padding zeros, bilinear" in text
    assert int(SCORES.search(text).group(5)) == 2  # one held-out car, two views: the split is by car
    kwargs = load_checkpoint(out / "ckpt_2.pt")["config"]["model"]["kwargs"]
    assert kwargs["padding"] == "zeros" and kwargs["bilinear"] is True


def inpainting_run(out):
    out.mkdir()
    model = PConvUNet(layers=3, base_channels=8)
    config = {"model": model_info(model), "task": "inpainting", "size": 32}
    save_checkpoint({"step": 1, "model": model.state_dict(), "config": config}, out / "ckpt_1.pt")


@pytest.mark.parametrize(
    "argv, needle",
    [
        (
            ["--padding", "reflect"],
            r"argument --padding: invalid choice: 'reflect' \(choose from '?zeros'?, '?partial'?\)",
        ),
        (["--data", "carvana"], r"--data carvana: no Carvana at .*carvana; .*`python -m pconv download carvana`"),
        (["--data", "{tmp}/nowhere"], r"--data .*nowhere: CarvanaDataset: root folder .*nowhere does not exist"),
        (["--data", "{tmp}/empty"], r"--data .*empty: CarvanaDataset: no Carvana layout under"),
        (["--size", "3", "40"], r"--size 3 40 is too small for 2 levels \(--features 4 8\): .* at least 2\*\*2 = 4"),
        (["--batch-size", "9"], r"--batch-size 9 is larger than the training set: --data synthetic gives 8 images"),
        (["--resume"], r"--resume needs --out"),
        (["--resume", "--out", "{tmp}/inpaint"], r"holds a run of task 'inpainting', not a UNet segmentation run"),
        (["--features", "0"], r"argument --features: expected an integer >= 1, got '0'"),
    ],
    ids=["padding", "carvana", "nowhere", "empty", "size", "batch-size", "resume", "inpainting", "features"],
)
def test_user_errors_are_one_line_exit_2(tmp_path, capsys, argv, needle):
    (tmp_path / "empty").mkdir()
    inpainting_run(tmp_path / "inpaint")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(["segment", "--features", "4", "8", "--device", "cpu", *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and re.search(needle, err), err
    assert not list(tmp_path.glob("**/ckpt_*.pt"))[1:]  # nothing trained (the inpainting run's own file aside)


def test_help_names_every_flag_the_defaults_and_the_exit_codes(capsys):
    with pytest.raises(SystemExit) as e:
        main(["segment", "--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for flag in ("--data", "--padding {zeros,partial}", "--features", "--bilinear", "--size H W", "--steps"):
        assert flag in text, flag
    for flag in ("--batch-size", "--lr", "--val-every", "--seed", "--border-width", "--out", "--resume", "--device"):
        assert flag in text, flag
    rows = [" ".join(map(str, SIZES["unet_segmentation", k]["features"])) for k in ("cpu", "cuda", "smoke")]
    assert "level widths; default by device: cpu {}, cuda {}, smoke {}".format(*rows) in text
    assert "(default: None)" not in text.split("--num-workers")[0]  # unset flags say what they default to
    assert re.search(r"\b2 an error you can fix", text)
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "segment" in capsys.readouterr().out
