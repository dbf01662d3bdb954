"""What each `python -m pconv` subcommand does, given its parsed arguments (the parser is `pconv.cli`).

`train` builds a partial-convolution U-Net (Liu et al. 2018) with `InpaintingLoss` and
runs `pconv.train.Trainer` on the offline sample photos or a folder of images;
`evaluate` scores a checkpoint or a public pretrained model (`pconv.pretrained`) per
hole-ratio bin (the paper's Table 1) against the classical baselines; `masks` writes the
fixed binned test-mask set; `download` fetches a Kaggle dataset (`pretrained`: `pconv.pretrained_cli`).
A problem the user can fix is raised as `UsageError` (one line, exit 2).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from .utils import data_dir, is_smoke

__all__ = ["UsageError", "train", "evaluate", "masks", "download"]


class UsageError(Exception):
    """A problem the user can fix (a path, a flag); printed as one line, exit status 2."""


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
    from torch.utils.data import Subset

    from .data import ImageFolderDataset, InpaintingDataset, find_images
    from .masks import MaskGenerator
    from .samples import sample_inpainting_data

    if args.data == "samples":
        smoke = is_smoke()
        return sample_inpainting_data(
            args.size, train_length=64 if smoke else 10_000, val_length=4 if smoke else 32, masks=10_000, seed=args.seed
        )
    root = _image_folder(args.data)
    masks = MaskGenerator(args.size, length=10_000, seed=args.seed)
    if len(find_images(root)) < 2:  # nothing to hold out: train on the one image, no validation
        images = ImageFolderDataset(root, args.size, seed=args.seed)
        return InpaintingDataset(images, masks, pairing="random", seed=args.seed), None
    # Unreadable files are skipped before the split, so one can never empty the validation side.
    try:
        images, val_images = ImageFolderDataset.split(root, args.size, 0.1, args.seed, augment_seed=args.seed)
    except ValueError as err:  # e.g. two files of which one is unreadable: nothing left to hold out
        raise UsageError(f"--data {args.data}: {err}") from None
    train = InpaintingDataset(images, masks, pairing="random", seed=args.seed)
    val_images = Subset(val_images, range(min(64, len(val_images))))  # enough for `val_batches` batches
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


def train(args: argparse.Namespace) -> int:
    """`train`: every TrainConfig field that is a flag goes into the config as given."""
    from .config import ConfigError
    from .interrupts import exit_status
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
        given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
        try:
            config = TrainConfig(**{**given, "progress": False})
        except ConfigError as e:  # settings that only make sense together, e.g. --finetune-steps <= --steps
            flag = f"--{e.field.replace('_', '-')}"
            raise UsageError(f"argument {flag}: expected {e.expected}, got {e.value!r} (see --help)") from e
        if args.size % 2**args.layers:
            raise UsageError(
                f"--size {args.size} must be a multiple of 2**layers = {2**args.layers} (--layers {args.layers})"
            )
        try:
            train_data, val_data = _train_data(args)
        except (FileNotFoundError, ValueError) as e:
            raise UsageError(str(e)) from e
        if args.out is None and dist.is_initialized():
            raise UsageError("under torchrun pass --out, so that every process writes to the same run folder")
        torch.manual_seed(args.seed)
        model = PConvUNet(in_channels=3, layers=args.layers, base_channels=args.base_channels)
        loss_fn = InpaintingLoss(vgg=None if args.vgg == "none" else args.vgg)
        trainer = Trainer(model, loss_fn, config)
        trainer.fit(train_data, val_data, resume=args.resume)
        if trainer.interrupted is not None:
            print(
                f"pconv train: stopped by {trainer.interrupted.name} at step {trainer.step}/{config.steps}; "
                f"checkpoint in {trainer.out}; continue with --resume",
                file=sys.stderr,
            )
            return exit_status(trainer.interrupted)
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


def evaluate(args: argparse.Namespace) -> int:
    """`evaluate`: PSNR, SSIM and L1 per hole-ratio bin of a checkpoint (or a pretrained model) and the baselines."""
    from torch.utils.data import Subset

    from .checkpoint import load_checkpoint, model_from_checkpoint
    from .data import ImageFolderDataset
    from .masks import fixed_test_masks
    from .metrics import evaluate_inpainting
    from .samples import SampleImageDataset
    from .utils import resolve_device

    if args.pretrained:
        from .pretrained_cli import pretrained_model

        model, size = pretrained_model(args.pretrained)
        what = f"pretrained {args.pretrained}"
    else:
        ckpt = load_checkpoint(args.checkpoint)
        config = ckpt.get("config") or {}
        if config.get("task", "inpainting") != "inpainting":
            raise UsageError(f"{args.checkpoint} is a {config['task']} checkpoint; evaluate scores inpainting models")
        model = model_from_checkpoint(ckpt)
        size = int(config.get("size", 256))
        what = f"checkpoint {args.checkpoint} (step {ckpt['step']})"
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
    print(f"{what}, {len(images)} images, masks {masks}")
    print(report.to_text())
    return 0


def masks(args: argparse.Namespace) -> int:
    """`masks`: write the fixed binned test-mask set and its manifest."""
    from .masks import load_test_masks, make_test_masks

    try:
        out = make_test_masks(args.out, size=args.size, per_bin=args.per_bin, seed=args.seed)
    except ValueError as e:
        raise UsageError(str(e)) from e
    print(f"wrote {len(load_test_masks(out))} test masks to {out}")
    return 0


def download(args: argparse.Namespace) -> int:
    """`download`: a Kaggle dataset with the official client."""
    from .kaggle import download as kaggle_download

    try:
        path = kaggle_download(args.name, args.dest, competition=args.competition, force=args.force)
    except ValueError as e:
        raise UsageError(str(e)) from e
    print(path)
    return 0
