"""What each `python -m pconv` subcommand does, given its parsed arguments (the parser is `pconv.cli.parser`).

`train` builds a partial-convolution U-Net (Liu et al. 2018; `--conv plain` or `gated` for the
variants of `pconv.nn.conv_variants`) with `InpaintingLoss` and
runs `pconv.train.Trainer` on the offline sample photos or a folder of images;
`evaluate` scores a checkpoint or a public pretrained model (`pconv.pretrained`) per
hole-ratio bin (the paper's Table 1) against the classical baselines; `masks` writes the
fixed binned test-mask set; `download` fetches a Kaggle dataset (`pretrained`: `pconv.cli.pretrained`).
A problem the user can fix is raised as `UsageError` (one line, exit 2). Every path in
`args` is already absolute (`pconv.cli.args` resolved it while parsing).
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
from torch.utils.data import Subset

from pconv.cli.checks import check_batch_size, check_resumable
from pconv.cli.errors import UsageError
from pconv.cli.pretrained import pretrained_model
from pconv.data import (
    ImageFolderDataset,
    InpaintingDataset,
    MaskGenerator,
    SampleImageDataset,
    find_images,
    fixed_test_masks,
    load_test_masks,
    make_test_masks,
    sample_inpainting_data,
    sample_names,
)
from pconv.data import download as kaggle_download
from pconv.evaluation import evaluate_inpainting
from pconv.nn import InpaintingLoss, PConvUNet, VGGWeightsError
from pconv.train import (
    TrainConfig,
    Trainer,
    exit_status,
    load_checkpoint,
    model_from_checkpoint,
)
from pconv.utils import data_dir, is_smoke, resolve_device, writing

__all__ = ["train", "evaluate", "masks", "download"]


def _image_folder(data: str | Path) -> Path:
    """The image folder of --data: 'celeba' (under data_dir()) or the folder given."""
    if data == "celeba":
        root = data_dir() / "celeba"
        if not root.is_dir():
            raise UsageError(
                f"--data celeba: no CelebA at {root}; get it with `python -m pconv download celeba` "
                "(needs Kaggle credentials, see kaggle.json.example) or pass --data PATH"
            )
        return root
    root = Path(data)
    if not root.is_dir():
        raise UsageError(f"--data {data}: not 'samples', 'celeba' or an existing folder of images")
    return root


def _train_data(args: argparse.Namespace) -> tuple[Any, Any]:
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
    rank = _init_distributed(args.device)
    logging.basicConfig(
        level=logging.INFO if rank == 0 else logging.WARNING,
        format="%(asctime)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
        # A ConfigError (settings that only make sense together, e.g. --finetune-steps <= --steps)
        # reaches the user through `pconv.cli.parser.main`, which names its flag.
        config = TrainConfig(**{**given, "progress": False})
        if args.resume:
            check_resumable(args.out)
        if args.size % 2**args.layers:
            raise UsageError(
                f"--size {args.size} must be a multiple of 2**layers = {2**args.layers} (--layers {args.layers})"
            )
        if args.mask_channel and args.conv != "plain":
            raise UsageError(
                f"--mask-channel applies to --conv plain only (got --conv {args.conv}): partial convolutions "
                "carry the mask in their own path, and gated ones always take it as an input channel"
            )
        try:
            train_data, val_data = _train_data(args)
        except (FileNotFoundError, ValueError) as e:
            raise UsageError(str(e)) from e
        check_batch_size(args.batch_size, args.data, len(train_data))
        if args.out is None and dist.is_initialized():
            raise UsageError("under torchrun pass --out, so that every process writes to the same run folder")
        torch.manual_seed(args.seed)
        model = PConvUNet(
            in_channels=3,
            layers=args.layers,
            base_channels=args.base_channels,
            conv=args.conv,
            hole_value=args.hole_value,
            mask_channel=args.mask_channel,
        )
        try:
            loss_fn = InpaintingLoss(vgg=None if args.vgg == "none" else args.vgg)
        except VGGWeightsError as e:
            raise UsageError(f"--vgg {args.vgg}: {e} (On the command line: --vgg auto or --vgg none.)") from e
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


SAMPLE_CROPS_PER_PHOTO = 32  # evaluate --data samples: fixed crops per held-out photo, at most


def _checkpoint_model(path: Path) -> tuple[Any, int, str]:
    """The model of `evaluate --checkpoint`, the square image size its config records, and a description."""
    ckpt = load_checkpoint(path)
    config = ckpt.get("config") or {}
    if not isinstance(config, dict):
        raise UsageError(
            f"--checkpoint {path}: its config is a {type(config).__name__}, not a dict; pass a "
            "checkpoint written by `train` or `pretrained convert`"
        )
    if config.get("task", "inpainting") != "inpainting":
        raise UsageError(f"{path} is a {config['task']} checkpoint; evaluate scores inpainting models")
    size = config.get("size", 256)
    if isinstance(size, list) and len(size) == 2 and size[0] == size[1]:
        size = size[0]
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise UsageError(
            f"--checkpoint {path}: its config records size {size!r}; evaluate needs a square "
            "side in pixels (an int >= 1); pass a checkpoint written by `train`"
        )
    return model_from_checkpoint(ckpt), size, f"checkpoint {path} (step {ckpt.get('step')})"


def _capped(num_images: int, most: int, holds: str) -> int:
    if num_images > most:
        print(
            f"pconv evaluate: note: --num-images {num_images} is more than {holds} ({most}); using {most}",
            file=sys.stderr,
        )
    return min(num_images, most)


def _eval_images(args: argparse.Namespace, size: int) -> Any:
    """The held-out images of `evaluate`: at most --num-images, and at most what --data holds (with a note)."""
    if args.data == "samples":
        most = SAMPLE_CROPS_PER_PHOTO * len(sample_names("val"))
        n = _capped(args.num_images, most, f"the held-out sample photos give ({SAMPLE_CROPS_PER_PHOTO} crops each)")
        return SampleImageDataset(size, "val", length=n)
    try:
        images = ImageFolderDataset(_image_folder(args.data), size, train=False)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from e
    return Subset(images, range(_capped(args.num_images, len(images), f"--data {args.data} holds")))


def evaluate(args: argparse.Namespace) -> int:
    """`evaluate`: PSNR, SSIM and L1 per hole-ratio bin of a checkpoint (or a pretrained model) and the baselines."""
    if args.pretrained:
        model, size = pretrained_model(args.pretrained)
        what = f"pretrained {args.pretrained}"
    else:
        model, size, what = _checkpoint_model(args.checkpoint)
    images = _eval_images(args, size)
    if args.masks:
        masks = args.masks
        if not (masks / "manifest.json").is_file():
            raise UsageError(
                f"--masks {masks}: no manifest.json there; write a set with "
                "`python -m pconv masks --out DIR`, or leave --masks out for the shared set"
            )
    else:
        with writing(data_dir() / "test_masks", "the shared test-mask set under"):
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
    """`masks`: write the fixed binned test-mask set and its manifest (over an existing set only with --force)."""
    try:
        with writing(args.out, "test-mask set"):
            out = make_test_masks(args.out, size=args.size, per_bin=args.per_bin, seed=args.seed, overwrite=args.force)
    except FileExistsError as e:  # a set is there already: the message says --force (`pconv.cli.errors.one_line`)
        raise UsageError(str(e)) from e
    except ValueError as e:
        raise UsageError(str(e)) from e
    print(f"wrote {len(load_test_masks(out))} test masks to {out}")
    return 0


def download(args: argparse.Namespace) -> int:
    """`download`: a Kaggle dataset with the official client."""
    try:
        path = kaggle_download(args.name, args.dest, competition=args.competition, force=args.force)
    except ValueError as e:
        raise UsageError(str(e)) from e
    print(path)
    return 0
