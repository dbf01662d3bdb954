"""Tests for the convolution flags of `python -m pconv train` (`--conv`, `--hole-value`, `--mask-channel`).

They reach the model (`pconv.nn.PConvUNet(conv=..., hole_value=..., mask_channel=...)`), are
recorded in every checkpoint, survive a resume, and `evaluate --checkpoint` rebuilds each
variant from that record. Bad values are one line naming the flag, exit 2, before any work.
Smoke sizes (PCONV_SMOKE=1: 32 px, 3 layers, 4 steps).
"""

from __future__ import annotations

import inspect

import pytest

from pconv.cli import commands
from pconv.cli.errors import UsageError
from pconv.cli.parser import build_parser, main
from pconv.nn import PConvUNet
from pconv.nn.conv_variants import CONVS
from pconv.train import Trainer, load_checkpoint, model_from_checkpoint

CPU = ["--device", "cpu", "--num-workers", "0"]


@pytest.fixture(autouse=True)
def smoke(monkeypatch):
    monkeypatch.setenv("PCONV_SMOKE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def parse(*argv):
    return build_parser().parse_args([str(a) for a in argv])


def test_the_flags_default_to_the_papers_network_and_parse_their_values():
    assert [parse("train", "--conv", kind).conv for kind in CONVS] == list(CONVS)  # every kind the networks take
    args = parse("train")
    defaults = inspect.signature(PConvUNet).parameters
    assert (args.conv, args.hole_value, args.mask_channel) == tuple(
        defaults[k].default for k in ("conv", "hole_value", "mask_channel")
    )
    args = parse("train", "--conv", "plain", "--hole-value", "imagenet", "--mask-channel")
    assert (args.conv, args.hole_value, args.mask_channel) == ("plain", "imagenet", True)
    args = parse("train", "--conv", "gated", "--hole-value", "0", "--no-mask-channel")
    assert (args.conv, args.hole_value, args.mask_channel) == ("gated", 0.0, False)


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--conv", "dilated"], "--conv: invalid choice: 'dilated'"),
        (["--hole-value", "1.5"], "--hole-value: expected a number in [0, 1]"),
        (["--hole-value", "-0.1"], "--hole-value: expected a number in [0, 1]"),
        (["--hole-value", "nan"], "--hole-value: expected a number in [0, 1]"),
        (["--hole-value", "mean"], "or 'imagenet', got 'mean'"),
    ],
    ids=["conv", "above", "below", "nan", "word"],
)
def test_a_bad_value_is_one_line_naming_the_flag(tmp_path, capsys, flags, needle):
    assert main(["train", "--out", str(tmp_path / "run"), *flags, *CPU]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("conv", ["partial", "gated"])
def test_mask_channel_is_refused_except_for_plain_convolutions(tmp_path, conv):
    out = tmp_path / "run"
    with pytest.raises(UsageError, match=f"--mask-channel applies to --conv plain only \\(got --conv {conv}\\)"):
        commands.train(parse("train", "--out", out, "--conv", conv, "--mask-channel", *CPU))
    assert not out.exists()  # refused before anything was written


PLAIN = dict(conv="plain", hole_value="imagenet", mask_channel=True)


@pytest.mark.parametrize(
    "flags, kwargs",
    [
        (["--conv", "gated"], dict(conv="gated", hole_value=0.5, mask_channel=False)),
        (["--conv", "plain", "--hole-value", "imagenet", "--mask-channel"], PLAIN),
    ],
    ids=["gated", "plain"],
)
def test_train_resume_and_evaluate_a_variant(tmp_path, capsys, monkeypatch, flags, kwargs):
    # The sample figure (seconds of matplotlib per run) is the trainer's own, tested in tests/train.
    monkeypatch.setattr(Trainer, "_samples", lambda self, batch: None)
    out = tmp_path / "run"
    assert main(["train", "--out", str(out), *flags, *CPU]) == 0
    recorded = load_checkpoint(out / "ckpt_4.pt")["config"]["model"]["kwargs"]
    assert {k: recorded[k] for k in kwargs} == kwargs
    model = model_from_checkpoint(out / "ckpt_4.pt")
    assert (model.conv, model.hole_value, model.mask_channel) == tuple(kwargs.values())
    assert main(["train", "--out", str(out), "--resume", "--steps", "5", *flags, *CPU]) == 0
    assert load_checkpoint(out / "ckpt_5.pt")["step"] == 5
    capsys.readouterr()
    argv = ["evaluate", "--checkpoint", str(out / "ckpt_5.pt"), "--methods", "model", "--device", "cpu"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"checkpoint {out / 'ckpt_5.pt'} (step 5)") and "PSNR (dB)" in text and "model" in text
