"""Recipes: one source of truth for a tuned training configuration (model, loss, schedule, data, evaluation).

The quickstart notebook (notebooks/00_quickstart.ipynb), `benchmarks/bench_quality.py`
and the tests all build their objects from `quickstart()`, so the configuration that is
benchmarked is the one users run:

    recipe = quickstart()                           # CPU: 2000 steps, ~7.5 min on two cores
    model, loss_fn = recipe.model(), recipe.loss()
    train_data, val_data = recipe.datasets()
    history = Trainer(model, loss_fn, recipe.train_config()).fit(train_data, val_data)
    report = recipe.score(model)                    # vs Telea and biharmonic, per hole bin

What this version changes from the paper (Liu et al. 2018, arXiv:1804.07723, Sec. 5.1)
to fit a few CPU minutes on the offline sample photos: small crops, a shallower and
narrower `PConvUNet` (on the CPU between a full-resolution stem and head,
`PConvUNetWithStem`), a larger learning rate with warm-up and cosine decay, and L1 + TV
losses only (the perceptual and style terms need ImageNet VGG16 weights, and on a CPU
they would cost more than the network itself). `benchmarks/RESULTS.md` ("Quality")
records what was tried and what it gave. The sizes per device live with every other sized
configuration in `pconv.train.size_table.SIZES` (the "quickstart" rows).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from pconv.data import (
    InpaintingDataset,
    SampleImageDataset,
    fixed_test_masks,
    load_test_masks,
    make_test_masks,
    sample_inpainting_data,
)
from pconv.evaluation import evaluate_inpainting
from pconv.nn import MODELS, InpaintingLoss
from pconv.train.config import TrainConfig
from pconv.train.size_table import SIZES, device_kind
from pconv.utils import resolve_device

__all__ = ["Recipe", "quickstart"]


@dataclass
class Recipe:
    """A complete, seeded training-and-evaluation configuration; its builders return fresh objects.

    Attributes:
        name: a label ("quickstart-cpu", "quickstart-cuda", "quickstart-smoke").
        size: square crop side in pixels, for training and evaluation alike.
        model_kwargs: the model's constructor arguments: `model_name(**model_kwargs)`.
        loss_kwargs: `InpaintingLoss(**loss_kwargs)`.
        train_kwargs: `TrainConfig(**train_kwargs)` (the `out` folder is given to `train_config`).
        hole_range: (lo, hi) hole ratio of the training masks.
        train_length: crops (and masks) per epoch of the training set.
        val_length: held-out crops used for validation during training.
        per_bin: test masks per hole-ratio bin in the final evaluation.
        seed: seeds the data, the masks and the trainer.
        model_name: the model's class in `pconv.nn.pconv_unet` ("PConvUNet", "PConvUNetWithStem"),
            by name as checkpoints record it.
    """

    name: str
    size: int
    model_kwargs: dict[str, Any]
    loss_kwargs: dict[str, Any]
    train_kwargs: dict[str, Any]
    hole_range: tuple[float, float] = (0.01, 0.6)
    train_length: int = 4096
    val_length: int = 32
    per_bin: int = 16
    seed: int = 0
    notes: list[str] = field(default_factory=list)
    model_name: str = "PConvUNet"

    def __post_init__(self) -> None:
        multiple = 2 ** self.model_kwargs.get("layers", 7)
        if self.size % multiple:
            raise ValueError(
                f"recipe {self.name!r}: size {self.size} must be a multiple of 2**layers = {multiple}; "
                "change size or model_kwargs['layers']"
            )

    @property
    def steps(self) -> int:
        """Total optimizer steps of the training run."""
        return int(self.train_kwargs["steps"])

    def with_size(self, size: int) -> Recipe:
        """The same recipe at another crop size (a multiple of 2**layers)."""
        return replace(self, size=int(size), train_kwargs={**self.train_kwargs, "size": int(size)})

    def with_steps(self, steps: int) -> Recipe:
        """The same recipe with `steps` in total; warm-up and the periodic events keep their proportions."""
        steps = max(1, int(steps))
        old, kw = self.steps, dict(self.train_kwargs)
        kw["steps"] = steps
        kw["warmup_steps"] = min(steps - 1, round(kw.get("warmup_steps", 0) * steps / old))
        for key in ("val_every", "sample_every", "checkpoint_every"):
            if key in kw:
                kw[key] = max(1, min(steps, round(kw[key] * steps / old)))
        return replace(self, train_kwargs=kw)

    # ------------------------------------------------------------------ builders
    def model(self) -> torch.nn.Module:
        """A fresh `model_name(**model_kwargs)`, initialised from `seed` (the same weights every call)."""
        if self.model_name not in MODELS:
            raise ValueError(f"recipe {self.name!r}: model_name must be one of {list(MODELS)}, got {self.model_name!r}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return MODELS[self.model_name](**self.model_kwargs)

    def loss(self) -> torch.nn.Module:
        """A fresh `InpaintingLoss` with the recipe's weights (no VGG terms: nothing to download)."""
        return InpaintingLoss(**self.loss_kwargs)

    def train_config(self, out: str | os.PathLike | None = None, **overrides: Any) -> TrainConfig:
        """`TrainConfig` of the recipe; `out=None` makes a new run folder; `overrides` win."""
        return TrainConfig(**{**self.train_kwargs, "out": None if out is None else str(out), **overrides})

    def datasets(self) -> tuple[InpaintingDataset, InpaintingDataset]:
        """(train, val) `InpaintingDataset`s: random crops of the 6 training photos with fresh masks,
        and fixed crops of the 2 held-out photos with fixed masks (for the validation curve)."""
        return sample_inpainting_data(
            self.size, self.hole_range, train_length=self.train_length, val_length=self.val_length, seed=self.seed
        )

    def test_masks(self, root: str | os.PathLike | None = None) -> list:
        """The fixed binned test set at the recipe's size, `per_bin` masks per paper bin.

        Written once (`fixed_test_masks`, the set the CLI and 04_evaluate use too) or under
        `root` by `make_test_masks`, and read back, checked against its manifest, by
        `load_test_masks`.
        """
        if root is None:
            return load_test_masks(fixed_test_masks(self.size, self.per_bin, seed=self.seed))
        folder = Path(root)
        if not (folder / "manifest.json").is_file():
            make_test_masks(folder, self.size, self.per_bin, seed=self.seed)
        return load_test_masks(folder)

    def test_images(self, n: int | None = None) -> SampleImageDataset:
        """Held-out crops of the validation photos (chelsea, motorcycle), one per test mask by default."""
        return SampleImageDataset(self.size, "val", n or 6 * self.per_bin, seed=self.seed)

    def score(self, model: Any, *, methods: list[str] | None = None, progress: bool = True):
        """`evaluate_inpainting` of `model` and the baselines on held-out photos and the test masks.

        Args:
            model: an inpainting model (`model.inpaint(image, mask)`), e.g. the recipe's, trained.
            methods: "model" and baseline names; None: the model and every available baseline.
            progress: show a progress bar.

        Returns:
            An `InpaintingReport`: PSNR, SSIM and L1 of the composite per method and hole-ratio bin.
        """
        masks = self.test_masks()
        return evaluate_inpainting(
            model,
            self.test_images(len(masks)),
            masks,
            methods=methods,
            device=self.train_kwargs.get("device", "auto"),
            progress=progress,
        )

    def describe(self) -> str:
        """One paragraph: the settings that matter, for notebooks and RESULTS.md."""
        m, loss, t = self.model_kwargs, self.loss_kwargs, self.train_kwargs
        model = ", ".join(f"{k}={v!r}" for k, v in m.items())
        return (
            f"{self.name}: {self.size}x{self.size} crops, {self.model_name}({model}), "
            f"loss valid={loss.get('valid')} hole={loss.get('hole')} tv={loss.get('tv')} (no VGG terms), "
            f"Adam lr {t['lr']:g} ({t.get('warmup_steps', 0)} warm-up steps, {t.get('schedule', 'constant')}), "
            f"batch {t['batch_size']}, {t['steps']} steps, masks {self.hole_range[0]:g}-{self.hole_range[1]:g} holes"
        )


_LOSS = dict(valid=1.0, hole=6.0, perceptual=0.0, style=0.0, tv=0.1, vgg=None)  # L1 + TV: nothing to download
_COMMON = dict(schedule="cosine", log_every=25, val_batches=2, keep_last=1, seed=0)


def quickstart(device: str | torch.device = "auto", smoke: bool | None = None) -> Recipe:
    """The quickstart configuration: a few CPU minutes of training on the offline sample photos.

    Args:
        device: "auto", "cpu", "cuda", ...: on CUDA the recipe is scaled up (larger crops,
            a deeper and wider network, more steps, mixed precision); elsewhere it is the
            CPU recipe: 2000 steps, about 7.5 minutes of training on two cores.
        smoke: a seconds-long configuration for tests; None follows `PCONV_SMOKE=1`.

    Returns:
        A `Recipe`; its `train_kwargs["device"]` is the resolved device.
    """
    dev = resolve_device(device)
    kind = device_kind(dev, smoke)
    spec = SIZES["quickstart", kind]
    train = {**_COMMON, **spec["train_kwargs"], **spec["events"], "size": spec["size"], "device": str(dev)}
    return Recipe(
        name=f"quickstart-{kind}",
        size=spec["size"],
        model_kwargs=dict(spec["model_kwargs"]),
        loss_kwargs=dict(_LOSS),
        train_kwargs=train,
        hole_range=(0.01, 0.6),
        train_length=spec["train_length"],
        val_length=spec["val_length"],
        per_bin=spec["per_bin"],
        notes=list(spec.get("notes", [])),
        model_name=spec.get("model_name", "PConvUNet"),
    )
