"""Command line: `python -m pconv {train,evaluate,masks,download}` (also installed as `pconv`).

    python -m pconv train --data samples --size 256 --steps 1000 --batch-size 8 --out runs/a
    python -m pconv train --out runs/a --steps 2000 --resume          # continue up to 2000 steps
    python -m pconv evaluate --checkpoint runs/a/best.pt
    python -m pconv masks --out data/test_masks --per-bin 100
    python -m pconv download celeba
    torchrun --standalone --nproc-per-node=2 -m pconv train ...       # DistributedDataParallel

User errors (missing data, an unreadable checkpoint, Kaggle problems) print one line
to stderr and exit with status 2. `PCONV_SMOKE=1` shrinks every default to a tiny,
CPU-friendly configuration (for tests). `PCONV_DEBUG_RANK_STATE=DIR` makes every rank
of a `train` run save its final weights as DIR/rank<r>.pt (for checking DDP).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from .checkpoint import CheckpointError
from .utils import data_dir, is_smoke

__all__ = ["main", "build_parser", "UsageError"]

log = logging.getLogger("pconv.cli")


class UsageError(Exception):
    """A problem the user can fix (a path, a flag); printed as one line, exit status 2."""


def _defaults() -> dict[str, Any]:
    if is_smoke():  # tiny: seconds on a CPU
        return dict(
            size=32,
            steps=4,
            batch_size=2,
            layers=3,
            base_channels=8,
            log_every=1,
            val_every=4,
            sample_every=4,
            checkpoint_every=4,
            num_images=2,
            per_bin=1,
            vgg="none",
            methods="model",
        )
    return dict(
        size=256,
        steps=1000,
        batch_size=8,
        layers=7,
        base_channels=64,
        log_every=10,
        val_every=500,
        sample_every=500,
        checkpoint_every=500,
        num_images=16,
        per_bin=10,
        vgg="auto",
        methods=None,
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of all four subcommands (defaults follow PCONV_SMOKE)."""
    d = _defaults()
    p = argparse.ArgumentParser(prog="python -m pconv", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True, metavar="{train,evaluate,masks,download}")

    t = sub.add_parser(
        "train",
        help="train PConvUNet for inpainting (DDP under torchrun)",
        description="Train a partial-convolution U-Net (Liu et al. 2018) on images with random "
        "irregular masks. --batch-size is per process under torchrun.",
    )
    t.add_argument(
        "--data",
        default="samples",
        help="'samples' (offline scikit-image photos, default), "
        "'celeba' (data_dir()/celeba, see `download`) or a folder of images",
    )
    t.add_argument("--size", type=int, default=d["size"], help="image side in pixels; a multiple of 2**layers")
    t.add_argument("--steps", type=int, default=d["steps"], help="total training steps, fine-tuning included")
    t.add_argument("--batch-size", type=int, default=d["batch_size"], help="images per step (per process)")
    t.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate (paper: 2e-4)")
    t.add_argument(
        "--out",
        default=None,
        help="run folder for checkpoints, history and samples (default: $PCONV_OUTPUT_DIR/runs/<date-time>)",
    )
    t.add_argument("--resume", action="store_true", help="continue from the newest good checkpoint in --out")
    t.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mixed precision (default: on for CUDA, off on CPU)",
    )
    t.add_argument("--device", default="auto", help="auto (CUDA, then MPS, then CPU), cpu or cuda")
    t.add_argument("--layers", type=int, default=d["layers"], help="U-Net depth (paper: 7 for 256 px, 8 for 512)")
    t.add_argument("--base-channels", type=int, default=d["base_channels"], help="channels of the first layer")
    t.add_argument(
        "--finetune-steps",
        type=int,
        default=0,
        help="last N of --steps fine-tune with the encoder's batch norm frozen (paper Sec. 5.1)",
    )
    t.add_argument("--finetune-lr", type=float, default=5e-5, help="learning rate while fine-tuning")
    t.add_argument("--schedule", choices=("constant", "cosine"), default="constant", help="lr schedule")
    t.add_argument("--warmup-steps", type=int, default=0, help="linear lr warm-up steps")
    t.add_argument("--grad-clip", type=float, default=None, help="clip the gradient norm to this value")
    t.add_argument(
        "--vgg",
        choices=("auto", "imagenet", "none"),
        default=d["vgg"],
        help="VGG16 for the perceptual and style losses (none: L1 and TV terms only)",
    )
    t.add_argument("--num-workers", type=int, default=None, help="DataLoader workers (default: by CPU count)")
    t.add_argument("--seed", type=int, default=0, help="seed of weights, data order and masks")
    for name in ("log", "val", "sample", "checkpoint"):
        t.add_argument(f"--{name}-every", type=int, default=d[f"{name}_every"], help=f"{name} every N steps")
    t.add_argument("--keep-last", type=int, default=3, help="checkpoints to keep (best.pt is kept as well)")
    t.add_argument("--channels-last", action="store_true", help="channels-last memory format (faster on GPUs)")
    t.add_argument("--compile", action="store_true", help="torch.compile the model (falls back if it fails)")
    t.set_defaults(func=_train)

    e = sub.add_parser(
        "evaluate",
        help="score a checkpoint per hole-ratio bin against classical baselines",
        description="PSNR, SSIM and L1 of the composite per hole-ratio bin (paper Table 1) on "
        "held-out images with a fixed set of test masks.",
    )
    e.add_argument("--checkpoint", required=True, help="a ckpt_<step>.pt or best.pt written by `train`")
    e.add_argument("--data", default="samples", help="'samples' (held-out sample photos), 'celeba' or a folder")
    e.add_argument(
        "--masks",
        default=None,
        help="test-mask folder with a manifest.json (default: the shared set under "
        "data_dir()/test_masks/, made once for the checkpoint's image size)",
    )
    e.add_argument("--per-bin", type=int, default=d["per_bin"], help="masks per bin when the mask set is made")
    e.add_argument("--num-images", type=int, default=d["num_images"], help="images to evaluate on")
    e.add_argument(
        "--methods",
        default=d["methods"],
        help="comma-separated: model and baselines "
        "(biharmonic, harmonic, telea, navier_stokes, mean_fill); default: all available",
    )
    e.add_argument("--device", default="auto", help="auto, cpu or cuda")
    e.set_defaults(func=_evaluate)

    m = sub.add_parser(
        "masks",
        help="write the fixed binned test-mask set",
        description="Write per-bin "
        "irregular test masks (PNG, white = valid) and manifest.json, reproducibly from --seed.",
    )
    m.add_argument("--out", required=True, help="folder to write")
    m.add_argument("--size", type=int, default=256, help="mask side in pixels")
    m.add_argument("--per-bin", type=int, default=100, help="masks per hole-ratio bin (6 bins)")
    m.add_argument("--seed", type=int, default=0, help="seed of the set")
    m.set_defaults(func=_masks)

    k = sub.add_parser(
        "download",
        help="download a Kaggle dataset (needs Kaggle credentials)",
        description="Download and extract a Kaggle dataset with the official client; "
        "credentials from ~/.kaggle/kaggle.json or KAGGLE_USERNAME/KAGGLE_KEY.",
    )
    k.add_argument("name", help="celeba, celebahq256, places365, carvana, or an owner/dataset slug")
    k.add_argument("--dest", default=None, help="destination folder (default: data_dir()/NAME)")
    k.add_argument("--competition", action="store_true", help="NAME is a competition slug")
    k.add_argument("--force", action="store_true", help="download again even if complete")
    k.set_defaults(func=_download)
    return p


def _image_folder(data: str) -> Path:
    if data == "celeba":
        root = data_dir() / "celeba"
        if not root.is_dir():
            raise UsageError(
                f"--data celeba: no CelebA at {root}; get it with `python -m pconv download celeba` "
                "(needs Kaggle credentials, see kaggle.json.example) or pass --data PATH"
            )
        return root
    root = Path(data).expanduser()
    if not root.is_dir():
        raise UsageError(f"--data {data}: not 'samples', 'celeba' or an existing folder of images")
    return root


def _train_data(args: argparse.Namespace) -> tuple[Any, Any]:
    from .data import ImageFolderDataset, InpaintingDataset, find_images, split_files
    from .masks import MaskGenerator
    from .samples import sample_inpainting_data

    if args.data == "samples":
        smoke = is_smoke()
        return sample_inpainting_data(
            args.size, train_length=64 if smoke else 10_000, val_length=4 if smoke else 32, masks=10_000, seed=args.seed
        )
    root = _image_folder(args.data)
    train_files, val_files = split_files(find_images(root), 0.1, args.seed)
    images = ImageFolderDataset(root, args.size, train=True, files=train_files, seed=args.seed)
    val_images = ImageFolderDataset(root, args.size, train=False, files=val_files[:64]) if val_files else None
    masks = MaskGenerator(args.size, length=10_000, seed=args.seed)
    train = InpaintingDataset(images, masks, pairing="random", seed=args.seed)
    val = None
    if val_images is not None:
        val = InpaintingDataset(val_images, MaskGenerator(args.size, length=len(val_images), seed=args.seed + 1))
    return train, val


def _init_distributed(device: str) -> int:
    """Join the process group when started by torchrun (WORLD_SIZE > 1); returns the rank."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0
    cuda = device != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank()


def _train(args: argparse.Namespace) -> int:
    from .losses import InpaintingLoss
    from .models import PConvUNet
    from .train import TrainConfig, Trainer

    rank = _init_distributed(args.device)
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        if args.size % 2**args.layers:
            raise UsageError(
                f"--size {args.size} must be a multiple of 2**layers = {2**args.layers} (--layers {args.layers})"
            )
        try:
            train, val = _train_data(args)
        except (FileNotFoundError, ValueError) as e:
            raise UsageError(str(e)) from e
        if args.out is None and dist.is_initialized():
            raise UsageError("under torchrun pass --out, so that every process writes to the same run folder")
        torch.manual_seed(args.seed)
        kwargs = dict(in_channels=3, layers=args.layers, base_channels=args.base_channels)
        model = PConvUNet(**kwargs)
        loss_fn = InpaintingLoss(vgg=None if args.vgg == "none" else args.vgg)
        config = TrainConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            lr=args.lr,
            size=args.size,
            device=args.device,
            amp=args.amp,
            channels_last=args.channels_last,
            compile=args.compile,
            num_workers=args.num_workers,
            grad_clip=args.grad_clip,
            log_every=args.log_every,
            val_every=args.val_every,
            sample_every=args.sample_every,
            checkpoint_every=args.checkpoint_every,
            keep_last=args.keep_last,
            seed=args.seed,
            finetune_steps=args.finetune_steps,
            finetune_lr=args.finetune_lr,
            schedule=args.schedule,
            warmup_steps=args.warmup_steps,
            out=args.out,
            progress=False,
        )
        trainer = Trainer(model, loss_fn, config)
        trainer.fit(train, val, resume=args.resume)
        if rank == 0:
            print(f"run folder: {trainer.out} (step {trainer.step}/{config.steps})")
        debug = os.environ.get("PCONV_DEBUG_RANK_STATE")
        if debug:
            Path(debug).mkdir(parents=True, exist_ok=True)
            torch.save(trainer.model.state_dict(), Path(debug) / f"rank{rank}.pt")
        return 0
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def _evaluate(args: argparse.Namespace) -> int:
    from torch.utils.data import Subset

    from .checkpoint import load_checkpoint, model_from_checkpoint
    from .data import ImageFolderDataset
    from .masks import fixed_test_masks
    from .metrics import evaluate_inpainting
    from .samples import SampleImageDataset
    from .utils import resolve_device

    ckpt = load_checkpoint(args.checkpoint)
    config = ckpt.get("config") or {}
    if config.get("task", "inpainting") != "inpainting":
        raise UsageError(f"{args.checkpoint} is a {config['task']} checkpoint; evaluate scores inpainting models")
    model = model_from_checkpoint(ckpt)
    size = int(config.get("size", 256))
    if args.data == "samples":
        images = SampleImageDataset(size, "val", length=args.num_images)
    else:
        try:
            images = ImageFolderDataset(_image_folder(args.data), size, train=False)
        except (FileNotFoundError, ValueError) as e:
            raise UsageError(str(e)) from e
        images = Subset(images, range(min(args.num_images, len(images))))
    if args.masks:
        masks = Path(args.masks)
        if not (masks / "manifest.json").is_file():
            raise UsageError(
                f"--masks {masks}: no manifest.json there; write a set with "
                "`python -m pconv masks --out DIR`, or leave --masks out for the shared set"
            )
    else:
        masks = fixed_test_masks(size, per_bin=args.per_bin)  # written once, then shared by every run
    methods = [m.strip() for m in args.methods.split(",")] if args.methods else None
    try:
        report = evaluate_inpainting(
            model, images, masks, methods=methods, device=resolve_device(args.device), progress=sys.stderr.isatty()
        )
    except ValueError as e:
        raise UsageError(str(e)) from e
    print(f"checkpoint {args.checkpoint} (step {ckpt['step']}), {len(images)} images, masks {masks}")
    print(report.to_text())
    return 0


def _masks(args: argparse.Namespace) -> int:
    from .masks import load_test_masks, make_test_masks

    try:
        out = make_test_masks(args.out, size=args.size, per_bin=args.per_bin, seed=args.seed)
    except ValueError as e:
        raise UsageError(str(e)) from e
    print(f"wrote {len(load_test_masks(out))} test masks to {out}")
    return 0


def _download(args: argparse.Namespace) -> int:
    from .kaggle import download

    try:
        path = download(args.name, args.dest, competition=args.competition, force=args.force)
    except ValueError as e:
        raise UsageError(str(e)) from e
    print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 training diverged, 2 user error)."""
    from .data import ImageLoadError
    from .kaggle import KaggleError
    from .train import RunExistsError, TrainingDivergedError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (UsageError, CheckpointError, RunExistsError, KaggleError, ImageLoadError) as e:
        print(f"pconv {args.command}: error: {' '.join(str(e).split())}", file=sys.stderr)
        return 2
    except TrainingDivergedError as e:
        print(f"pconv {args.command}: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
