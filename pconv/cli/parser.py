"""Command line: `python -m pconv {train,evaluate,masks,download,pretrained,segment}` (also installed as `pconv`).

    python -m pconv train --data samples --size 256 --steps 1000 --batch-size 8 --out runs/a
    python -m pconv train --out runs/a --steps 2000 --resume          # continue up to 2000 steps
    python -m pconv evaluate --checkpoint runs/a/best.pt
    python -m pconv evaluate --pretrained mmagic-places2             # a public checkpoint (`pretrained list`)
    python -m pconv masks --out data/test_masks --per-bin 100
    python -m pconv download celeba
    python -m pconv segment --data synthetic --padding partial --out runs/seg   # the U-Net (pconv.cli.segment)
    torchrun --standalone --nproc-per-node=2 -m pconv train ...       # DistributedDataParallel

Defaults have one source: `TrainConfig` for the training flags, `PConvUNet` and
`InpaintingLoss` for the model and loss flags, `make_test_masks` for `masks`; the
deliberate differences of `PCONV_SMOKE=1` (a tiny, CPU-friendly configuration, for tests)
are the ("cli", "smoke") row of the one sizing table, `pconv.train.SIZES`. Every flag is
checked before any work starts.
`PCONV_DEBUG_RANK_STATE=DIR` makes every rank of a `train` run save its final weights
as DIR/rank<r>.pt (for checking DDP).
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable, Sequence
from dataclasses import fields
from typing import Any

from pconv.cli import commands
from pconv.cli.args import (
    MAX_IMAGE_SIZE,
    MAX_MASK_SIZE,
    SEED_MAX,
    count,
    data_source,
    device,
    folder,
    hole_value,
    model_source,
    path,
    rate,
)
from pconv.cli.errors import UsageError, is_user_error, one_line, user_errors
from pconv.cli.pretrained import add_pretrained_parser
from pconv.cli.segment import add_segment_parser
from pconv.data import make_test_masks
from pconv.nn import CONVS, InpaintingLoss, PConvUNet
from pconv.train import SIZES, TrainConfig, TrainingDivergedError, exit_status, signal_of, sigterm_interrupts
from pconv.utils import is_smoke

__all__ = ["main", "build_parser", "defaults", "EXIT_CODES"]

EXIT_CODES = """exit status:
  0    finished (or nothing was left to do)
  1    training diverged: the message names the last good checkpoint
  2    an error you can fix (a flag, a path, a file, a full disk), said in one line
  129  stopped by SIGHUP (terminal or SSH closed)   a checkpoint was saved first;
  130  stopped by Ctrl-C (SIGINT)                   continue with --resume
  143  stopped by SIGTERM"""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise `UsageError` (main prints one line, exit 2) instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see {self.prog} --help)")


# The TrainConfig fields that are `train` flags (--batch-size for batch_size): type and help.
TRAIN_FLAGS: dict[str, tuple[Any, str]] = {
    "size": (count(1, MAX_IMAGE_SIZE), f"image side in pixels; a multiple of 2**layers, at most {MAX_IMAGE_SIZE}"),
    "steps": (count(1), "total training steps, fine-tuning included"),
    "batch_size": (count(1), "images per step (per process under torchrun)"),
    "lr": (rate, "Adam learning rate (paper: 2e-4)"),
    "finetune_steps": (
        count(0),
        "the last N of --steps fine-tune with the encoder's batch norm frozen (paper Sec. 5.1)",
    ),
    "finetune_lr": (rate, "learning rate while fine-tuning (paper: 5e-5)"),
    "schedule": (("constant", "cosine"), "lr schedule after the warm-up"),
    "warmup_steps": (count(0), "linear lr warm-up steps"),
    "grad_clip": (rate, "clip the gradient norm to this value; None: no clipping"),
    "amp": (bool, "mixed precision; None: on for CUDA, off elsewhere"),
    "channels_last": (bool, "channels-last memory format (faster on GPUs)"),
    "compile": (bool, "torch.compile the model (falls back to eager if it fails)"),
    "num_workers": (count(0), "DataLoader worker processes, at most the CPU count; None: by CPU count"),
    "seed": (count(0, SEED_MAX), "seed of weights, data order and masks"),
    "log_every": (count(1), "log every N steps"),
    "val_every": (count(1), "validate every N steps"),
    "sample_every": (count(1), "save a sample figure every N steps"),
    "checkpoint_every": (count(1), "checkpoint every N steps"),
    "keep_last": (count(1), "checkpoints to keep (best.pt is kept as well)"),
    "val_batches": (count(1), "batches per validation"),
    "max_bad_steps": (count(1), "stop after this many non-finite losses in a row"),
}


def _signature_defaults(fn: Callable) -> dict[str, Any]:
    return {k: p.default for k, p in inspect.signature(fn).parameters.items() if p.default is not p.empty}


def defaults() -> dict[str, Any]:
    """Every flag's default, read from the code it configures (then `SIZES["cli", "smoke"]` under PCONV_SMOKE=1).

    Keys: the TrainConfig fields; `layers`, `base_channels`, `conv`, `hole_value`, `mask_channel` (PConvUNet); `vgg`
    (InpaintingLoss; None is "none"); `mask_size`, `mask_per_bin`, `mask_seed`
    (make_test_masks); and evaluate's own `num_images`, `per_bin` and `methods`.
    """
    d: dict[str, Any] = {f.name: f.default for f in fields(TrainConfig)}
    model, loss, mask_set = (_signature_defaults(fn) for fn in (PConvUNet, InpaintingLoss, make_test_masks))
    d.update(layers=model["layers"], base_channels=model["base_channels"], vgg=loss["vgg"] or "none")
    d.update(conv=model["conv"], hole_value=model["hole_value"], mask_channel=model["mask_channel"])
    d.update(mask_size=mask_set["size"], mask_per_bin=mask_set["per_bin"], mask_seed=mask_set["seed"])
    d.update(num_images=16, per_bin=10, methods=None)  # evaluate: a quick score, not the paper's set
    if is_smoke():
        d.update(SIZES["cli", "smoke"])
    return d


class HelpFormat(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults in the help, and the exit-status table as written."""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_train_parser(sub: Any, d: dict[str, Any]) -> None:
    t = sub.add_parser(
        "train",
        help="train PConvUNet for inpainting (DDP under torchrun)",
        description="Train a partial-convolution U-Net (Liu et al. 2018) on images with random "
        "irregular masks. --batch-size is per process under torchrun.",
        formatter_class=HelpFormat,
        epilog=EXIT_CODES,
    )
    t.add_argument(
        "--data",
        type=data_source,
        default="samples",
        help="'samples' (offline scikit-image photos), "
        "'celeba' (data_dir()/celeba, see `download`) or a folder of images (./samples for one named so)",
    )
    t.add_argument(
        "--out",
        type=folder,
        default=d["out"],
        help="run folder for checkpoints, history and samples; None: $PCONV_OUTPUT_DIR/runs/<date-time>",
    )
    t.add_argument(
        "--resume", action="store_true", default=False, help="continue from the newest good checkpoint in --out"
    )
    t.add_argument("--device", type=device, default=d["device"], help="auto (CUDA, then MPS, then CPU), cpu or cuda")
    t.add_argument("--layers", type=count(1), default=d["layers"], help="U-Net depth (paper: 7 for 256 px, 8 for 512)")
    t.add_argument("--base-channels", type=count(1), default=d["base_channels"], help="channels of the first layer")
    t.add_argument(
        "--conv",
        choices=CONVS,
        default=d["conv"],
        help="partial (the paper), plain (ordinary convolutions, holes at --hole-value: the paper's Fig. 2 e/f) "
        "or gated (Yu et al. 2019, the mask an input channel)",
    )
    t.add_argument(
        "--hole-value",
        type=hole_value,
        default=d["hole_value"],
        metavar="X",
        help="plain and gated: what the holes hold, a number in [0, 1] (0.5 = 127.5/255) or 'imagenet' (its mean)",
    )
    t.add_argument(
        "--mask-channel",
        action=argparse.BooleanOptionalAction,
        default=d["mask_channel"],
        help="plain only: the mask as an extra input channel (gated always has it)",
    )
    t.add_argument(
        "--vgg",
        choices=("auto", "imagenet", "none"),
        default=d["vgg"],
        help="VGG16 for the perceptual and style losses (none: L1 and TV terms only)",
    )
    for name, (kind, text) in TRAIN_FLAGS.items():
        if kind is bool:
            t.add_argument(_flag(name), action=argparse.BooleanOptionalAction, default=d[name], help=text)
        elif isinstance(kind, tuple):
            t.add_argument(_flag(name), choices=kind, default=d[name], help=text)
        else:
            t.add_argument(_flag(name), type=kind, default=d[name], help=text, metavar="X" if kind is rate else "N")
    t.set_defaults(func=commands.train)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of all five subcommands (defaults from `defaults()`)."""
    d = defaults()
    fmt = HelpFormat
    p = Parser(prog="python -m pconv", description=__doc__.split("\n\n")[0], epilog=EXIT_CODES, formatter_class=fmt)
    sub = p.add_subparsers(dest="command", required=True, metavar="{train,evaluate,masks,download,pretrained,segment}")
    _add_train_parser(sub, d)

    e = sub.add_parser(
        "evaluate",
        help="score a checkpoint or a pretrained model per hole-ratio bin against classical baselines",
        description="PSNR, SSIM and L1 of the composite per hole-ratio bin (paper Table 1) on "
        "held-out images with a fixed set of test masks.",
        formatter_class=fmt,
    )
    which = e.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--checkpoint", type=path, help="a ckpt_<step>.pt or best.pt written by `train` (or `pretrained convert`)"
    )
    which.add_argument(
        "--pretrained",
        metavar="NAME",
        type=model_source,
        help="a name from `pretrained list` (downloaded once), or its file",
    )
    e.add_argument(
        "--data", type=data_source, default="samples", help="'samples' (held-out sample photos), 'celeba' or a folder"
    )
    e.add_argument(
        "--masks",
        type=path,
        default=None,
        help="test-mask folder with a manifest.json (default: the shared set under "
        "data_dir()/test_masks/, made once for the checkpoint's image size)",
    )
    e.add_argument("--per-bin", type=count(1), default=d["per_bin"], help="masks per bin when the mask set is made")
    e.add_argument(
        "--num-images", type=count(1), default=d["num_images"], help="images to evaluate on (at most what --data holds)"
    )
    e.add_argument(
        "--methods",
        default=d["methods"],
        help="comma-separated: model and baselines "
        "(biharmonic, harmonic, telea, navier_stokes, patchmatch, mean_fill); default: all available",
    )
    e.add_argument("--device", type=device, default=d["device"], help="auto, cpu or cuda")
    e.set_defaults(func=commands.evaluate)

    m = sub.add_parser(
        "masks",
        help="write the fixed binned test-mask set",
        description="Write per-bin irregular test masks (PNG, white = valid) and manifest.json, "
        "reproducibly from --seed.",
        formatter_class=fmt,
    )
    m.add_argument("--out", type=folder, required=True, help="folder to write")
    m.add_argument(
        "--size",
        type=count(1, MAX_MASK_SIZE),
        default=d["mask_size"],
        help=f"mask side in pixels, at most {MAX_MASK_SIZE}",
    )
    m.add_argument("--per-bin", type=count(1), default=d["mask_per_bin"], help="masks per hole-ratio bin (6 bins)")
    m.add_argument("--seed", type=count(0, SEED_MAX), default=d["mask_seed"], help="seed of the set")
    m.add_argument("--force", action="store_true", help="overwrite a mask set that --out already holds")
    m.set_defaults(func=commands.masks)

    k = sub.add_parser(
        "download",
        help="download a Kaggle dataset (needs Kaggle credentials)",
        description="Download and extract a Kaggle dataset with the official client; "
        "credentials from ~/.kaggle/kaggle.json or KAGGLE_USERNAME/KAGGLE_KEY.",
    )
    k.add_argument("name", help="celeba, celebahq256, places365, carvana, or an owner/dataset slug")
    k.add_argument("--dest", type=folder, default=None, help="destination folder (default: data_dir()/NAME)")
    k.add_argument("--competition", action="store_true", help="NAME is a competition slug")
    k.add_argument("--force", action="store_true", help="download again even if complete")
    k.set_defaults(func=commands.download)
    add_pretrained_parser(sub)
    add_segment_parser(sub, fmt, EXIT_CODES)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (see `EXIT_CODES`: 0, 1 diverged, 2 user error, 129/130/143 signals).

    The one place that turns errors into exit statuses: `pconv.cli.errors.is_user_error` ones
    print one line and return 2; any other exception is a bug and keeps its traceback.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as e:
        print(f"{parser.prog}: error: {one_line(e)}", file=sys.stderr)
        return 2
    name = f"pconv {args.command}"
    try:
        with sigterm_interrupts():  # SIGTERM ends the command as Ctrl-C does, with no traceback
            return args.func(args)
    except TrainingDivergedError as e:
        print(f"{name}: training diverged: {one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print(f"{name}: stopped by {signal_of(e).name}", file=sys.stderr)
        return exit_status(signal_of(e))
    except (OSError, *user_errors()) as e:
        if not is_user_error(e):
            raise  # an unexpected OSError is a bug: its traceback is the report
        print(f"{name}: error: {one_line(e)}", file=sys.stderr)
        return 2
