"""The `python -m pconv segment` subcommand: train the segmentation U-Net and score it on held-out images.

    python -m pconv segment --data synthetic --padding partial --steps 300 --out runs/seg
    python -m pconv segment --data carvana --size 160 240 --features 64 128 256 512 --out runs/car
    python -m pconv segment --out runs/seg --steps 600 --resume      # the run's own settings, 600 steps

`pconv.nn.UNet` (Ronneberger et al. 2015, arXiv:1505.04597) with `bce_dice_loss`, trained by
`pconv.train.Trainer` as notebook 05 trains it, on the offline synthetic shapes, Kaggle's Carvana
(`python -m pconv download carvana`) or a folder in Carvana's layout. `--padding partial` is
partial-convolution based padding (Liu et al. 2018, arXiv:1811.11718). Unset sizes come from
the device's "unet_segmentation" row of `pconv.train.SIZES` (PCONV_SMOKE=1: seconds); with
`--resume`, from the run being continued. At the end it prints the held-out Dice and IoU, and
the Dice within `--border-width` px of the image border, where the padding acts.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from pconv.cli.args import MAX_IMAGE_SIZE, SEED_MAX, count, device, folder, path, rate
from pconv.cli.checks import check_batch_size, check_resumable
from pconv.cli.errors import UsageError
from pconv.data import CarvanaDataset, SyntheticShapesDataset
from pconv.evaluation import border_dice, dice_score, iou_score, predict_probs
from pconv.nn import UNet, bce_dice_loss
from pconv.train import (
    SIZES,
    TrainConfig,
    Trainer,
    device_kind,
    exit_status,
    load_checkpoint,
    newest_good,
    run_checkpoint,
)
from pconv.utils import data_dir, resolve_device

__all__ = ["add_segment_parser", "segment", "segment_data"]

DATA_WORDS = ("synthetic", "carvana")  # --data words; a folder of that name is ./carvana
PADDINGS = ("zeros", "partial")
LR = 3e-4  # Adam, as notebook 05
MODEL_FLAGS = {"features": "--features", "bilinear": "--bilinear", "padding": "--padding"}


def _data(text: str) -> str | Path:
    """An argparse type for --data: 'synthetic', 'carvana', or a folder path."""
    return text if text in DATA_WORDS else path(text)


def _row(key: str) -> str:
    """The defaults of one setting by device kind, for its help."""
    kinds = ("cpu", "cuda", "smoke")
    return "default by device: " + ", ".join(f"{k} {_shown(SIZES['unet_segmentation', k][key])}" for k in kinds)


def add_segment_parser(sub: Any, formatter_class: Any = argparse.HelpFormatter, epilog: str | None = None) -> None:
    """Add `segment` to the CLI's subparsers `sub` (`formatter_class` and `epilog` as the other commands')."""
    s = sub.add_parser(
        "segment",
        help="train the segmentation U-Net (zero or partial-convolution padding) and print its Dice",
        description="Train pconv.nn.UNet with BCE + Dice loss on the synthetic shapes, Carvana or a folder in "
        "Carvana's layout, then score the held-out images: Dice, IoU and Dice near the image border. "
        "Unset sizes: the device's row of pconv.train.SIZES['unet_segmentation', ...], or with --resume the run's.",
        formatter_class=formatter_class,
        epilog=epilog,
    )
    s.add_argument(
        "--data",
        type=_data,
        default="synthetic",
        help="'synthetic' (offline shapes over sample photos), 'carvana' (data_dir()/carvana, see "
        "`download carvana`) or a folder holding train/ and train_masks/ (./carvana for one named so)",
    )
    # Unset flags are absent (SUPPRESS): the run's own when resuming, else the defaults their help names.
    unset = dict(default=argparse.SUPPRESS)
    s.add_argument(
        "--padding",
        choices=PADDINGS,
        help="3x3 convolution padding: zeros, or partial (the border as holes, arXiv:1811.11718); default zeros",
        **unset,
    )
    s.add_argument(
        "--features", type=count(1), nargs="+", metavar="N", help=f"level widths; {_row('features')}", **unset
    )
    s.add_argument(
        "--bilinear", action=argparse.BooleanOptionalAction, help="bilinear upsampling; default off", **unset
    )
    s.add_argument(
        "--size",
        type=count(1, MAX_IMAGE_SIZE),
        nargs=2,
        metavar=("H", "W"),
        help=f"image height and width; {_row('size')}",
        **unset,
    )
    s.add_argument("--steps", type=count(1), metavar="N", help=f"total training steps; {_row('steps')}", **unset)
    s.add_argument("--batch-size", type=count(1), metavar="N", help=f"images per step; {_row('batch_size')}", **unset)
    s.add_argument("--lr", type=rate, metavar="X", help=f"Adam learning rate; default {LR:g}", **unset)
    s.add_argument(
        "--val-every",
        type=count(1),
        metavar="N",
        help=f"validate and checkpoint every N steps; {_row('val_every')}",
        **unset,
    )
    s.add_argument(
        "--seed", type=count(0, SEED_MAX), metavar="N", help="seed of weights, data and split; default 0", **unset
    )
    s.add_argument("--num-workers", type=count(0), default=None, metavar="N", help="DataLoader workers; None: by CPUs")
    s.add_argument("--border-width", type=count(1), default=16, metavar="N", help="the border band of the border Dice")
    s.add_argument("--out", type=folder, default=None, help="run folder; None: $PCONV_OUTPUT_DIR/runs/<date-time>")
    s.add_argument("--resume", action="store_true", help="continue the run in --out with its own settings")
    s.add_argument("--device", type=device, default="auto", help="auto (CUDA, then MPS, then CPU), cpu or cuda")
    s.set_defaults(func=segment)


def _resumed(out: Path) -> dict[str, Any]:
    """The settings of the run being resumed: its UNet's arguments and its TrainConfig fields."""
    found = newest_good(out)
    if found is None:
        raise UsageError(f"--out {out}: no checkpoint there can be read; leave out --resume to start a fresh run")
    config = load_checkpoint(found).get("config") or {}
    if config.get("task", "inpainting") != "segmentation" or (config.get("model") or {}).get("name") != "UNet":
        raise UsageError(
            f"--out {out} holds a run of task {config.get('task', 'inpainting')!r}, not a UNet segmentation run; "
            "continue it with `python -m pconv train --resume`, or pass another --out"
        )
    kwargs = dict(config["model"].get("kwargs") or {})
    kwargs.setdefault("padding", "zeros")  # checkpoints written before the option
    return {**config, **kwargs}


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    """Every setting: the flag if given, else the resumed run's, else the device's SIZES row."""
    kind = device_kind(resolve_device(args.device))
    preset = SIZES["unet_segmentation", kind]
    run = _resumed(args.out) if args.resume else {}
    for key, flag in MODEL_FLAGS.items():  # the network must be the one the checkpoint holds
        given, was = getattr(args, key, None), run.get(key)
        if given is not None and was is not None and _differs(given, was):
            raise UsageError(
                f"{flag} {_shown(given)}: the run in --out {args.out} was trained with {key} {_shown(was)}; "
                f"leave {flag} out to continue it, or start a new run in another --out"
            )
    defaults = dict(
        padding="zeros", bilinear=False, lr=LR, seed=0, size=preset["size"], features=preset["features"],
        steps=preset["steps"], batch_size=preset["batch_size"], val_every=preset["val_every"],
    )  # fmt: skip
    chosen = {k: getattr(args, k) if hasattr(args, k) else run.get(k, v) for k, v in defaults.items()}
    chosen["size"], chosen["features"] = _hw(chosen["size"]), [int(f) for f in chosen["features"]]
    chosen["synthetic"] = preset["synthetic"]
    return chosen


def _differs(given: Any, was: Any) -> bool:
    return (list(given) if isinstance(given, (list, tuple)) else given) != (
        list(was) if isinstance(was, (list, tuple)) else was
    )


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _hw(size: Any) -> list[int]:
    return [int(size), int(size)] if isinstance(size, int) else [int(v) for v in size]


def segment_data(data: str | Path, size: list[int], synthetic: tuple[int, int], seed: int) -> tuple[Any, Any, str]:
    """(train, val, description) for --data: the synthetic shapes, Carvana under data_dir(), or a folder.

    Raises:
        UsageError: Carvana is not there, or the folder is not in Carvana's layout (the message says what to do).
    """
    if data == "synthetic":
        train = SyntheticShapesDataset(size, length=synthetic[0], split="train", seed=seed)
        val = SyntheticShapesDataset(size, length=synthetic[1], split="val", seed=seed)
        return train, val, "synthetic shapes (not Carvana)"
    root = data_dir() / "carvana" if data == "carvana" else Path(data)
    if data == "carvana" and not root.is_dir():
        raise UsageError(
            f"--data carvana: no Carvana at {root}; accept the competition's rules on Kaggle and run "
            "`python -m pconv download carvana`, or pass --data PATH or --data synthetic"
        )
    try:
        train = CarvanaDataset(root, size=tuple(size), split="train", seed=seed)  # pairs photos and masks now
        val = CarvanaDataset(root, size=tuple(size), split="val", seed=seed)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(f"--data {data}: {e}") from None
    return train, val, f"Carvana at {root}: {len(train.cars)} training cars, {len(val.cars)} held-out cars"


def _scores(model: UNet, val: Any, batch_size: int, width: int) -> tuple[float, float, float, int]:
    """Mean per-image Dice, IoU and border Dice over every held-out image, and how many there were."""
    sums, n = [0.0, 0.0, 0.0], 0
    for batch in DataLoader(val, batch_size=batch_size, num_workers=0):
        probs, target = predict_probs(model, batch["image"], batch_size), batch["mask"]  # (B, 1, H, W)
        k = len(probs)
        for i, score in enumerate((dice_score, iou_score)):
            sums[i] += float(score(probs, target)) * k
        sums[2] += float(border_dice(probs, target, width)) * k
        n += k
    return sums[0] / n, sums[1] / n, sums[2] / n, n


def segment(args: argparse.Namespace) -> int:
    """`segment`: train a UNet with bce_dice_loss, then print the held-out Dice, IoU and border Dice."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S")
    if args.resume:
        check_resumable(args.out)
    s = _settings(args)
    levels = len(s["features"])
    if min(s["size"]) < 2**levels:
        raise UsageError(
            f"--size {_shown(s['size'])} is too small for {levels} levels (--features {_shown(s['features'])}): "
            f"height and width must be at least 2**{levels} = {2**levels}"
        )
    train, val, source = segment_data(args.data, s["size"], s["synthetic"], s["seed"])
    check_batch_size(s["batch_size"], args.data, len(train))
    val_every = min(s["steps"], s["val_every"])
    config = TrainConfig(
        steps=s["steps"],
        batch_size=s["batch_size"],
        lr=s["lr"],
        size=s["size"],
        device=args.device,
        val_every=val_every,
        checkpoint_every=val_every,
        sample_every=val_every,
        log_every=max(1, val_every // 10),
        seed=s["seed"],
        num_workers=args.num_workers,
        out=None if args.out is None else str(args.out),
        progress=False,
    )
    torch.manual_seed(s["seed"])
    model = UNet(3, 1, tuple(s["features"]), s["bilinear"], s["padding"])
    what = f"UNet{tuple(s['features'])}, padding {s['padding']}{', bilinear' if s['bilinear'] else ''}"
    print(f"training {what} on {source}, {s['size'][0]}x{s['size'][1]}, {config.steps} steps", file=sys.stderr)
    trainer = Trainer(model, bce_dice_loss, config)
    trainer.fit(train, val, resume=args.resume)
    if trainer.interrupted is not None:
        print(
            f"pconv segment: stopped by {trainer.interrupted.name} at step {trainer.step}/{config.steps}; "
            f"checkpoint in {trainer.out}; continue with --resume",
            file=sys.stderr,
        )
        return exit_status(trainer.interrupted)
    best = run_checkpoint(trainer.out)  # best.pt (highest validation Dice), else the newest checkpoint
    ckpt = load_checkpoint(best)
    model.load_state_dict(ckpt["model"])
    dice, iou, border, n = _scores(model, val, s["batch_size"], args.border_width)
    print(f"run folder: {trainer.out} (step {trainer.step}/{config.steps}), {what}")
    print(
        f"held-out Dice {dice:.4f}, IoU {iou:.4f}, Dice within {args.border_width} px of the border {border:.4f} "
        f"({n} images; weights of {best.name}, step {ckpt['step']})"
    )
    return 0
