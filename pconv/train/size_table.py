"""The one sizing table: every configuration sized to a device, for every place that trains.

What fits a machine differs by orders of magnitude (a shared 2-core CPU, one GPU, a smoke
test that must take seconds), so each training entry point picks its sizes by device kind.
They all read `SIZES`, keyed by (use, kind):

    use                  read by
    "quickstart"         `quickstart()` in pconv/train/recipes.py: notebook 00, notebook 04's
                         fallback run, benchmarks/bench_quality.py
    "train_inpainting"   `training_settings()` in pconv/train/sizing.py: notebook 03
    "cli"                `python -m pconv` (pconv/cli/parser.py); only smoke mode differs from
                         the code's own defaults (`TrainConfig`, `PConvUNet`, `InpaintingLoss`)
    "panel"              the training panel's start values (pconv/notebook/panel_controls.py)
    "unet_segmentation"  notebook 05's U-Net run
    "ablations"          notebook 07's arms (`ablation_settings()` in pconv/train/ablations.py)

    kind: "cpu" (also Apple MPS), "cuda", "smoke" (`PCONV_SMOKE=1`, on any device), or
    "any" (one size on every device).

`device_kind(device, smoke)` says which kind a resolved device gets. Where the numbers come
from is in benchmarks/RESULTS.md ("Quality" for the quickstart recipe, "U-Net" for notebook
05) and in the header of pconv/train/sizing.py (notebook 03's measured candidates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from pconv.utils import is_smoke, resolve_device

__all__ = ["SIZES", "check_size_fits_layers", "device_kind", "sized_values"]

# fmt: off
SIZES: dict[tuple[str, str], dict[str, Any]] = {
    # ---- quickstart: a Recipe's size, model, train settings and events. "cpu" was tuned on a shared
    # 2-core CPU (benchmarks/bench_quality.py; benchmarks/RESULTS.md, "Quality"); "cuda" scales it up
    # for one GPU; "smoke" shrinks it to seconds.
    ("quickstart", "cpu"): dict(
        size=64,
        # The stem and head gained 0.5-0.7 dB in every bin (benchmarks/RESULTS.md, "Quality", S1 vs R0).
        model_name="PConvUNetWithStem",
        model_kwargs=dict(stem_channels=16, layers=5, base_channels=16, max_channels=256),
        train_kwargs=dict(steps=2000, batch_size=16, lr=2e-3, warmup_steps=100, amp=False),
        events=dict(val_every=400, sample_every=666, checkpoint_every=2000),  # 5 validations, 3 sample grids
        train_length=4096, val_length=32, per_bin=16,
    ),
    ("quickstart", "cuda"): dict(
        size=128,
        model_kwargs=dict(layers=6, base_channels=64, max_channels=512),
        train_kwargs=dict(steps=4000, batch_size=32, lr=1e-3, warmup_steps=200, amp=None),
        events=dict(val_every=500, sample_every=1000, checkpoint_every=1000),
        train_length=8192, val_length=64, per_bin=50,
        notes=["scaled up for one GPU; not tuned like the CPU recipe"],
    ),
    ("quickstart", "smoke"): dict(
        size=32,
        model_kwargs=dict(layers=3, base_channels=8, max_channels=32),
        train_kwargs=dict(steps=4, batch_size=4, lr=2e-3, warmup_steps=1, amp=False, num_workers=0),
        events=dict(val_every=4, sample_every=4, checkpoint_every=4, log_every=2),
        train_length=16, val_length=4, per_bin=1,
        notes=["smoke: a few seconds, to test the plumbing; the numbers mean nothing"],
    ),
    # ---- train_inpainting: notebook 03's two phases (Liu et al. 2018, Sec. 5.1). CPU: both phases in
    # about 5 minutes on two cores, no VGG terms; GPU: the paper's network and loss at 256x256.
    ("train_inpainting", "cpu"): dict(
        size=128, layers=5, base_channels=16, batch_size=8, steps=1500, finetune_steps=500, every=250, vgg=None
    ),
    ("train_inpainting", "cuda"): dict(
        size=256, layers=7, base_channels=64, batch_size=8, steps=3000, finetune_steps=1000, every=500, vgg="auto"
    ),
    ("train_inpainting", "smoke"): dict(
        size=32, layers=3, base_channels=8, batch_size=2, steps=2, finetune_steps=2, every=2, vgg=None
    ),
    # ---- cli: PCONV_SMOKE=1 flag defaults (train, evaluate), seconds on a CPU.
    ("cli", "smoke"): dict(
        size=32, steps=4, batch_size=2, layers=3, base_channels=8,
        log_every=1, val_every=4, sample_every=4, checkpoint_every=4,
        num_images=2, per_bin=1, vgg="none", methods="model",
    ),
    # ---- panel: a small model and a short run, so that a first Train finishes on a CPU.
    ("panel", "any"): dict(size=64, steps=200, batch_size=4, layers=4, base_channels=16),
    # ---- unet_segmentation: notebook 05. (H, W), level widths, steps, batch, validation interval,
    # synthetic (train, val) images. CPU: a U-Net a sixteenth the paper's width, a few minutes in all
    # (benchmarks/RESULTS.md, "U-Net"); GPU: the paper's U-Net (Ronneberger et al. 2015).
    ("unet_segmentation", "smoke"): dict(
        size=(32, 48), features=(8, 16), steps=2, batch_size=2, val_every=2, synthetic=(8, 4)
    ),
    ("unet_segmentation", "cpu"): dict(
        size=(64, 96), features=(16, 32, 64, 128), steps=1000, batch_size=8, val_every=100, synthetic=(2400, 96)
    ),
    ("unet_segmentation", "cuda"): dict(
        size=(160, 240), features=(64, 128, 256, 512), steps=2000, batch_size=8, val_every=200,
        synthetic=(16000, 200),
    ),
    # ---- ablations: notebook 07, every arm alike (pconv/train/ablations.py). Inpainting: image side, network,
    # batch, steps, lr (warm-up, then cosine), VGG terms, seeds, test masks per bin; segmentation: the seg_ ones
    # and synthetic (train, val) images. CPU: 4 arms x 3 seeds + 2 x 3, the whole notebook in 12 minutes on two
    # idle cores (500 + 400 steps would take 17-18; benchmarks/RESULTS.md, "Ablations (notebook 07)"); GPU: the
    # paper's network and loss at 256x256, the paper's U-Net at 160x240.
    ("ablations", "cpu"): dict(
        size=64, layers=5, base_channels=16, batch_size=8, steps=300, lr=2e-3, warmup_steps=30, vgg=None,
        seeds=(0, 1, 2), per_bin=8,
        seg_size=(64, 96), seg_features=(8, 16, 32, 64), seg_batch_size=8, seg_steps=250, seg_lr=1e-3,
        synthetic=(3200, 48),
    ),
    ("ablations", "cuda"): dict(
        size=256, layers=7, base_channels=64, batch_size=8, steps=3000, lr=2e-4, warmup_steps=0, vgg="auto",
        seeds=(0, 1, 2), per_bin=50,
        seg_size=(160, 240), seg_features=(64, 128, 256, 512), seg_batch_size=8, seg_steps=2000, seg_lr=3e-4,
        synthetic=(16000, 200),
    ),
    ("ablations", "smoke"): dict(
        size=32, layers=3, base_channels=8, batch_size=2, steps=2, lr=2e-3, warmup_steps=0, vgg=None,
        seeds=(0, 1), per_bin=1,
        seg_size=(32, 48), seg_features=(8, 16), seg_batch_size=2, seg_steps=2, seg_lr=1e-3, synthetic=(8, 4),
    ),
}
# fmt: on


def device_kind(device: str | torch.device, smoke: bool | None = None) -> str:
    """The kind of `SIZES` entry a device gets.

    Args:
        device: a resolved device ("cpu", "cuda:1", a `torch.device`; not "auto").
        smoke: the seconds-long sizes; None follows `PCONV_SMOKE=1`.

    Returns:
        "smoke" in smoke mode, else "cuda" for a CUDA device, else "cpu" (Apple MPS included).
    """
    smoke = is_smoke() if smoke is None else bool(smoke)
    return "smoke" if smoke else "cuda" if torch.device(device).type == "cuda" else "cpu"


def sized_values(
    caller: str,
    use: str,
    known: Sequence[str],
    device: str | torch.device,
    smoke: bool | None,
    given: Mapping[str, Any],
) -> tuple[torch.device, str, dict[str, Any], dict[str, Any]]:
    """The settings of `use` for `device`: its row of `SIZES`, the `given` ones that are not None winning.

    Args:
        caller: the function the caller's user called, named in the error.
        use: the table's use, e.g. "train_inpainting".
        known: the names a caller may give, in the order the error lists them.
        device: "auto", "cpu", "cuda", ...; smoke: as `device_kind`.
        given: the caller's settings; None means "pick for the device".

    Returns:
        (the resolved device, its kind, every value, the values the caller chose).

    Raises:
        TypeError: a `given` name that is not in `known`.
    """
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise TypeError(f"{caller}: unknown setting(s) {unknown}; known: {list(known)}")
    dev = resolve_device(device)
    kind = device_kind(dev, smoke)
    chosen = {k: v for k, v in given.items() if v is not None}
    return dev, kind, {**SIZES[use, kind], **chosen}, chosen


def check_size_fits_layers(size: int, layers: int) -> None:
    """Refuse a crop side the encoder's `layers` halvings cannot divide, in the notebooks' names."""
    if size % 2**layers:
        raise ValueError(f"SIZE {size} must be a multiple of 2**LAYERS = {2**layers}: change SIZE or LAYERS")
