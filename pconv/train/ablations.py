"""The ablation runs of notebook 07: every arm trained alike, each in a run folder of its own.

Inpainting arms, one U-Net wiring (`pconv.nn.PConvUNet(conv=...)`) with the convolution as the
only change: partial convolutions (Liu et al. 2018, arXiv:1804.07723); ordinary convolutions on
the image with its holes set to 0.5 (127.5 / 255) or to the ImageNet mean (the paper's Fig. 2
e/f); gated convolutions with the mask as an input channel (Yu et al. 2019, arXiv:1806.03589).
Segmentation arms: `pconv.nn.UNet` with zero padding or partial-convolution padding (Liu et al.
2018, arXiv:1811.11718). Every arm of a task gets the same data, masks, loss, seeds, schedule and
steps; the sizes are the "ablations" rows of `pconv.train.SIZES`:

    settings = ablation_settings("auto")                 # CPU: 64x64, 5 x 16, 300 steps, 3 seeds
    runs = train_arms(settings, "inpainting")             # 4 arms x 3 seeds, one Trainer run each

Each run is a plain `Trainer` run under `$PCONV_OUTPUT_DIR/runs/ablation-...` (so `find_checkpoints`,
04_evaluate and the studio list it); calling `train_arms` again resumes an interrupted run and
skips finished ones. Scoring is `pconv.train.ablation_scores`; the up-front time estimate
`pconv.train.ablation_estimate`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset

from pconv.data import CarvanaDataset, SyntheticShapesDataset, sample_inpainting_data
from pconv.nn import InpaintingLoss, PConvUNet, UNet, bce_dice_loss
from pconv.train.config import TrainConfig
from pconv.train.runs import run_checkpoint
from pconv.train.size_table import check_size_fits_layers, sized_values
from pconv.train.trainer import Trainer
from pconv.utils import output_dir

__all__ = [
    "INPAINTING_ARMS",
    "SEGMENTATION_ARMS",
    "TASKS",
    "AblationSettings",
    "ArmRun",
    "ablation_settings",
    "arm_data",
    "arm_loss",
    "arm_model",
    "train_arm",
    "train_arms",
]

# The constructor arguments that make each arm; everything else is shared.
INPAINTING_ARMS: dict[str, dict[str, Any]] = {
    "partial": dict(conv="partial"),  # Liu et al. 2018
    "plain-0.5": dict(conv="plain", hole_value=0.5),  # Fig. 2 e: holes at 127.5
    "plain-imagenet": dict(conv="plain", hole_value="imagenet"),  # Fig. 2 f: holes at the ImageNet mean
    "gated": dict(conv="gated"),  # Yu et al. 2019: the mask an input channel
}
SEGMENTATION_ARMS: dict[str, dict[str, Any]] = {
    "zeros": dict(padding="zeros"),
    "partial": dict(padding="partial"),  # Liu et al. 2018, arXiv:1811.11718
}
TASKS = {"inpainting": INPAINTING_ARMS, "segmentation": SEGMENTATION_ARMS}
HOLE_RANGE = (0.01, 0.6)  # training masks: the paper's six bins together
_TRAIN_CROPS, _VAL_CROPS = 4096, 16  # sample-photo crops per epoch; held-out crops for the trainer's validation


@dataclass(frozen=True)
class AblationSettings:
    """What every arm shares, sized to a device (the "ablations" rows of `pconv.train.SIZES`).

    Attributes:
        device, kind: the resolved device and the row used ("cpu", "cuda" or "smoke").
        size, layers, base_channels: inpainting crops and `PConvUNet(layers, base_channels)`.
        batch_size, steps, lr, warmup_steps: each inpainting run (Adam, warm-up then cosine).
        vgg: `InpaintingLoss(vgg=...)`: None (L1 and TV only) or "auto" (perceptual and style terms
            when ImageNet VGG16 loads, else a warning and without them).
        seeds: one run per arm and seed; the seed sets the weights, the crops, the masks and the order.
        per_bin: test masks per hole-ratio bin (`pconv.data.PAPER_HOLE_BINS`) in the evaluation.
        seg_size, seg_features, seg_batch_size, seg_steps, seg_lr: each segmentation run.
        synthetic: (train, held-out) images of the synthetic shapes set.
        carvana: a Carvana folder to segment instead of the synthetic shapes, or None.
        given: the names the caller set; the others came from the table.
    """

    device: str
    kind: str
    size: int
    layers: int
    base_channels: int
    batch_size: int
    steps: int
    lr: float
    warmup_steps: int
    vgg: str | None
    seeds: tuple[int, ...]
    per_bin: int
    seg_size: tuple[int, int]
    seg_features: tuple[int, ...]
    seg_batch_size: int
    seg_steps: int
    seg_lr: float
    synthetic: tuple[int, int]
    carvana: str | None = None
    given: tuple[str, ...] = ()

    def describe(self) -> str:
        """What every arm gets, in the notebook's names, and which values were set by the caller."""
        h, w = self.seg_size
        seg_data = f"Carvana ({self.carvana})" if self.carvana else f"synthetic shapes ({self.synthetic[0]} images)"
        given = f" Set by you: {', '.join(n.upper() for n in self.given)}." if self.given else ""
        return (
            f"Ablation settings ({self.kind}, {self.device}): seeds {list(self.seeds)}. Inpainting: {self.size}x"
            f"{self.size} sample-photo crops, PConvUNet(layers={self.layers}, base_channels={self.base_channels}), "
            f"batch {self.batch_size}, {self.steps} steps, lr {self.lr:g} ({self.warmup_steps} warm-up, cosine), "
            f"VGG terms {'off' if self.vgg is None else repr(self.vgg)}, {self.per_bin} test masks per bin. "
            f"Segmentation: {h}x{w} {seg_data}, UNet{tuple(self.seg_features)}, batch {self.seg_batch_size}, "
            f"{self.seg_steps} steps, lr {self.seg_lr:g}.{given}"
        )

    def run_folder(self, task: str, arm: str, seed: int, root: str | os.PathLike | None = None) -> Path:
        """`<root>/ablation-<what is trained>-<arm>-seed<seed>`; root defaults to `$PCONV_OUTPUT_DIR/runs`.

        The name holds every setting that shapes a run, so a run is resumed only by the same settings.
        """
        _check_arm(task, arm)
        if task == "inpainting":
            what = f"inpaint{self.size}-{self.layers}x{self.base_channels}-{self.steps}steps-lr{self.lr:g}"
            what += "-vgg" if self.vgg else ""
        else:
            what = f"seg{self.seg_size[0]}x{self.seg_size[1]}-w{self.seg_features[0]}-{self.seg_steps}steps"
            what += f"-lr{self.seg_lr:g}-{'carvana' if self.carvana else 'synthetic'}"
        return Path(root if root is not None else output_dir() / "runs") / f"ablation-{what}-{arm}-seed{seed}"


def ablation_settings(device: str | torch.device = "auto", smoke: bool | None = None, **given: Any) -> AblationSettings:
    """The ablation's settings for `device`; the `given` ones that are not None win.

    Args:
        device: "auto", "cpu", "cuda", ...: CUDA gets the paper's network (7 layers, 64 channels)
            and loss at 256x256; elsewhere a 5 x 16 network at 64x64 without the VGG terms, so that
            the whole notebook fits 15 minutes on two CPU cores.
        smoke: seconds-long sizes for tests; None follows `PCONV_SMOKE=1`.
        **given: any field of `AblationSettings` but device, kind and given.

    Raises:
        TypeError: an unknown setting. ValueError: size not a multiple of 2**layers, or no seeds.
    """
    names = [f.name for f in fields(AblationSettings) if f.name not in ("device", "kind", "given")]
    dev, kind, values, chosen = sized_values("ablation_settings", "ablations", names, device, smoke, given)
    values.setdefault("carvana", None)
    values["seeds"] = tuple(int(s) for s in values["seeds"])
    values["seg_size"], values["seg_features"] = tuple(values["seg_size"]), tuple(values["seg_features"])
    values["synthetic"] = tuple(values["synthetic"])
    values["carvana"] = None if values["carvana"] is None else str(values["carvana"])
    check_size_fits_layers(values["size"], values["layers"])
    if not values["seeds"]:
        raise ValueError("SEEDS is empty: give at least one seed (three for a spread), e.g. (0, 1, 2)")
    return AblationSettings(str(dev), kind, **values, given=tuple(n for n in names if n in chosen))


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)}, got {task!r}")


def _check_arm(task: str, arm: str) -> None:
    _check_task(task)
    if arm not in TASKS[task]:
        raise ValueError(f"unknown {task} arm {arm!r}; the arms are {list(TASKS[task])}")


def arm_model(settings: AblationSettings, task: str, arm: str, seed: int) -> nn.Module:
    """The arm's fresh network, initialised from `seed` (the same weights every call)."""
    _check_arm(task, arm)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if task == "inpainting":
            return PConvUNet(layers=settings.layers, base_channels=settings.base_channels, **INPAINTING_ARMS[arm])
        return UNet(features=settings.seg_features, **SEGMENTATION_ARMS[arm])


def arm_loss(settings: AblationSettings, task: str) -> Callable:
    """The loss every arm of `task` trains with: `InpaintingLoss(vgg=settings.vgg)` or `bce_dice_loss`."""
    if task == "inpainting":
        return InpaintingLoss(vgg=settings.vgg)  # the paper's weights; vgg=None: the VGG terms left out
    _check_task(task)
    return bce_dice_loss


def arm_data(settings: AblationSettings, task: str, seed: int) -> tuple[Dataset, Dataset]:
    """(train, held-out) data of a run with `seed`, the same for every arm of `task`.

    Inpainting: random crops of the six training photos with fresh free-form masks (hole ratios in
    `HOLE_RANGE`), seeded by `seed`; held out: fixed crops of the two validation photos. Segmentation:
    the synthetic shapes (or Carvana), the held-out set fixed (seed 0) whatever `seed` is.
    """
    if task == "inpainting":
        return sample_inpainting_data(
            settings.size, HOLE_RANGE, train_length=_TRAIN_CROPS, val_length=_VAL_CROPS, seed=seed
        )
    _check_task(task)
    if settings.carvana:  # the split by car is fixed (seed 0), so every run holds out the same cars
        train = CarvanaDataset(settings.carvana, size=settings.seg_size, split="train", seed=0)
        return train, CarvanaDataset(settings.carvana, size=settings.seg_size, split="val", seed=0)
    n_train, n_val = settings.synthetic
    train = SyntheticShapesDataset(settings.seg_size, length=n_train, split="train", seed=seed)
    return train, SyntheticShapesDataset(settings.seg_size, length=n_val, split="val", seed=0)


@dataclass(frozen=True)
class ArmRun:
    """One trained run of an arm.

    Attributes:
        task, arm, seed: which run.
        folder: its run folder; checkpoint: the file that stands for it (`run_checkpoint`).
        steps: the step it reached. seconds: this call's wall time (about 0 for a finished run).
        score: its last validation PSNR in dB (inpainting) or Dice (segmentation); NaN if none.
    """

    task: str
    arm: str
    seed: int
    folder: Path
    checkpoint: Path
    steps: int
    seconds: float
    score: float

    def line(self) -> str:
        """`partial         seed 0: 300 steps in 34 s, val PSNR 22.03 dB (ablation-...-partial-seed0)`."""
        metric = f"val PSNR {self.score:.2f} dB" if self.task == "inpainting" else f"val Dice {self.score:.3f}"
        took = f"{self.steps} steps in {self.seconds:.0f} s"
        return f"{self.arm:<15} seed {self.seed}: {took}, {metric} ({self.folder.name})"


def train_arm(
    settings: AblationSettings,
    task: str,
    arm: str,
    seed: int,
    *,
    root: str | os.PathLike | None = None,
    callbacks: Sequence[Any] = (),
) -> ArmRun:
    """Train one arm with one seed through `Trainer`, resuming its folder when it holds a checkpoint.

    Validation, the sample grid and the checkpoint come once, at the last step (best.pt then holds
    the final weights). A finished run is not trained again.

    Raises:
        KeyboardInterrupt: the run was interrupted (after the trainer saved a checkpoint), so that
            a loop over the arms stops too; calling again resumes it.
    """
    folder = settings.run_folder(task, arm, seed, root)
    seg = task == "segmentation"
    steps = settings.seg_steps if seg else settings.steps
    config = TrainConfig(
        steps=steps,
        batch_size=settings.seg_batch_size if seg else settings.batch_size,
        lr=settings.seg_lr if seg else settings.lr,
        size=list(settings.seg_size) if seg else settings.size,
        device=settings.device,
        seed=seed,
        schedule="cosine",
        warmup_steps=0 if seg else min(settings.warmup_steps, steps),
        log_every=max(1, steps // 20),
        val_every=steps,
        sample_every=steps,
        checkpoint_every=steps,
        keep_last=1,
        val_batches=2,
        out=str(folder),
        progress=False,
    )
    train, val = arm_data(settings, task, seed)
    trainer = Trainer(arm_model(settings, task, arm, seed), arm_loss(settings, task), config, callbacks=callbacks)
    start = time.perf_counter()
    history = trainer.fit(train, val, resume=run_checkpoint(folder) is not None)
    seconds = time.perf_counter() - start
    if trainer.interrupted is not None or trainer.step < steps:
        raise KeyboardInterrupt(f"{task} arm {arm!r}, seed {seed} stopped at step {trainer.step}; run again to resume")
    key = "val/dice" if seg else "val/psnr"
    score = next((float(r[key]) for r in reversed(history) if key in r), math.nan)
    return ArmRun(task, arm, seed, folder, run_checkpoint(folder), trainer.step, seconds, score)


def train_arms(
    settings: AblationSettings,
    task: str,
    *,
    arms: Sequence[str] | None = None,
    root: str | os.PathLike | None = None,
    report: Callable[[str], None] | None = print,
) -> list[ArmRun]:
    """Every arm of `task` with every seed, seed by seed (so an early stop leaves whole seeds).

    Args:
        settings: from `ablation_settings`.
        task: "inpainting" or "segmentation".
        arms: a subset of the task's arms; None: all of them, in table order.
        root: where the run folders go (default `$PCONV_OUTPUT_DIR/runs`).
        report: called with one line per finished run (None: silent).

    Returns:
        The `ArmRun`s, seed-major, arm order within each seed.
    """
    _check_task(task)
    arms = list(TASKS[task]) if arms is None else list(arms)
    for arm in arms:
        _check_arm(task, arm)
    done = []
    for seed in settings.seeds:
        for arm in arms:
            done.append(train_arm(settings, task, arm, seed, root=root))
            if report is not None:
                report(done[-1].line())
    return done
