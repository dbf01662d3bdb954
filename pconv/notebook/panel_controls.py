"""The training panel's controls, declared once, and where their values go.

`TRAINING_CONTROLS` is the table of `pconv.notebook.panel.training_panel`'s controls: name, widget
kind, range, target, tooltip. The target says where a value goes: "train" a `TrainConfig`
field, "data" the default training data (sample photos with free-form masks), "model" a
`PConvUNet` argument (depth, width, kind of convolution), "loss" an `InpaintingLoss` weight
(Liu et al. 2018, arXiv:1804.07723, eq. 7), "run" the panel itself. Start values are read
from `TrainConfig`, `InpaintingLoss`, `PConvUNet` and `MaskGenerator` (or from what the caller
passed in); the one deliberate difference is the ("panel", "any") row of the one sizing table,
`pconv.train.SIZES`: a small model and a short run, so that a first Train finishes on a CPU.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import torch

from pconv.data import InpaintingDataset, MaskGenerator, sample_inpainting_data
from pconv.nn import CONVS, InpaintingLoss, PConvUNet
from pconv.notebook.controls import Control, build_controls
from pconv.train import SIZES, TrainConfig

__all__ = [
    "LOSS_TERMS",
    "PINNED_WHY",
    "ROWS",
    "TRAINING_CONTROLS",
    "build_data",
    "build_loss",
    "build_model",
    "loss_kwargs",
    "make_config",
    "model_kwargs",
    "peek_size",
    "routed",
    "run_label",
    "start_values",
    "training_controls",
]

LOSS_TERMS = ("valid", "hole", "tv", "style", "perceptual")  # InpaintingLoss's weights, in display order
_START = SIZES["panel", "any"]  # size, steps, batch_size, layers, base_channels: a quick CPU run
AMP = {"auto": None, "on": True, "off": False}

# fmt: off
TRAINING_CONTROLS = (
    Control("lr", "log", "train", "lr", "Adam learning rate of the main phase (paper: 2e-4)", (-6, -1, 0.1)),
    Control("batch_size", "int", "train", "batch size", "images per optimizer step", (1, 4096)),
    Control("steps", "int", "train", "steps", "optimizer steps of this run, fine-tuning included", (1, 10**9)),
    Control("finetune_steps", "int", "train", "of which fine-tune",
            "the last steps of the run: finetune_lr, encoder batch norm frozen (paper Sec. 5.1)", (0, 10**9)),
    Control("amp", "choice", "train", "AMP", "mixed precision; auto: on for CUDA", options=tuple(AMP)),
    Control("device", "choice", "train", "device", "auto: CUDA, then MPS, then CPU", options=("auto", "cpu")),
    Control("out", "text", "train", "out", "run folder; empty: a new folder under outputs/runs for each run"),
    Control("size", "slider", "data", "size", "crop side in pixels, a multiple of 2**layers", (32, 512, 32)),
    Control("hole_range", "range", "data", "hole range", "hole ratio (lo, hi) of the training masks", (0, 1, 0.01)),
    Control("layers", "int", "model", "layers", "PConvUNet encoder depth (paper: 7 at 512x512)", (1, 9)),
    Control("base_channels", "choice", "model", "channels", "first stage width (paper: 64)", options=(8, 16, 32, 64)),
    Control("conv", "choice", "model", "conv", "the layers: partial convolutions (the paper's), plain ones (its "
            "Fig. 2 baseline) or gated ones (Yu et al. 2019, arXiv:1806.03589)", options=CONVS),
    *(Control(k, "float", "loss", k, f"weight of InpaintingLoss's {k} term (eq. 7); 0 leaves it out", (0, 1e6))
      for k in LOSS_TERMS),
    Control("continue", "check", "run", "continue", "train the last run's weights and optimizer (or the run in "
            "'out') for 'steps' more steps; unticked: fresh weights and a fresh optimizer"),
)
# fmt: on
ROWS = {"train": "training", "data": "data", "model": "model", "loss": "loss weights"}  # target -> panel row title
PINNED_WHY = {
    "data": "training data was passed to training_panel(train_data=...)",
    "model": "a model was passed to training_panel(model=...)",
    "loss": "a loss was passed to training_panel(loss_fn=...)",
}


def routed(values: dict[str, Any], target: str) -> dict[str, Any]:
    """The values of the controls whose target is `target`, by name (e.g. "model": `PConvUNet` kwargs)."""
    return {row.name: values[row.name] for row in TRAINING_CONTROLS if row.target == target}


def model_kwargs(values: dict[str, Any]) -> dict[str, Any]:
    """The "model" controls as `PConvUNet` keyword arguments ({"layers", "base_channels": int, "conv": str})."""
    return {k: str(v) if k == "conv" else int(v) for k, v in routed(values, "model").items()}


def loss_kwargs(values: dict[str, Any]) -> dict[str, float]:
    """The "loss" controls as `InpaintingLoss` keyword arguments (the weights of eq. 7)."""
    return {k: float(v) for k, v in routed(values, "loss").items()}


def build_model(values: dict[str, Any], seed: int) -> PConvUNet:
    """A fresh `PConvUNet` per the "model" controls, initialised from `torch.manual_seed(seed)`."""
    torch.manual_seed(seed)
    return PConvUNet(**model_kwargs(values))


def build_data(values: dict[str, Any], size: int, seed: int) -> tuple[InpaintingDataset, InpaintingDataset]:
    """(train, val) datasets per the "data" controls: crops of the offline sample photos, free-form masks.

    Args:
        values: {control name: value}; "hole_range" is read. size: crop side in pixels.
        seed: seeds the crops and masks.

    Returns:
        `sample_inpainting_data(size, hole_range, val_length=8, masks=10_000, seed=seed)`.
    """
    holes = tuple(float(h) for h in values["hole_range"])
    return sample_inpainting_data(size, holes, val_length=8, masks=10_000, seed=seed)


def build_loss(values: dict[str, Any]) -> InpaintingLoss:
    """`InpaintingLoss` with the "loss" controls' weights (VGG terms only when their weight is > 0)."""
    return InpaintingLoss(**loss_kwargs(values))


def start_values(config: Any = None, model: Any = None, loss_fn: Any = None) -> dict[str, Any]:
    """The controls' start values: from `config`, the model and loss given, else their classes' defaults.

    Args:
        config: a `TrainConfig`; None: `TrainConfig` defaults with the panel's size, steps and batch
            size from `SIZES["panel", "any"]`.
        model: a pinned model (its `layers` and `config["base_channels"]` are shown), or None.
        loss_fn: a pinned loss (its `weights` are shown), or None for `InpaintingLoss`'s defaults.

    Returns:
        {control name: value} for every row of `TRAINING_CONTROLS`.
    """
    cfg = config if config is not None else TrainConfig(**{k: _START[k] for k in ("size", "steps", "batch_size")})
    loss_args = inspect.signature(InpaintingLoss).parameters
    weights = {k: loss_args[k].default for k in LOSS_TERMS} | dict(getattr(loss_fn, "weights", None) or {})
    arch = (getattr(model, "config", None) or {}) if model is not None else {}
    return {
        **{row.name: getattr(cfg, row.name) for row in TRAINING_CONTROLS if row.target == "train"},
        "amp": {v: k for k, v in AMP.items()}[cfg.amp],
        "out": str(cfg.out or ""),
        "size": cfg.size if isinstance(cfg.size, int) else min(cfg.size),
        "hole_range": tuple(inspect.signature(MaskGenerator).parameters["hole_range"].default),
        "layers": int(getattr(model, "layers", None) or _START["layers"]),
        "base_channels": int(arch.get("base_channels", _START["base_channels"])),
        "conv": str(arch.get("conv", inspect.signature(PConvUNet).parameters["conv"].default)),
        **{k: float(weights[k]) for k in LOSS_TERMS},
        "continue": False,
    }


def make_config(values: dict[str, Any], base: TrainConfig | None = None) -> TrainConfig:
    """The `TrainConfig` the "train" controls (and "size") describe, on top of `base`.

    Args:
        values: {control name: value}, e.g. `TrainingPanel.values()`.
        base: a `TrainConfig` for every other setting; None: defaults with logging, validation,
            samples and checkpoints scaled to "steps" (about 20 log rows, 4 of the others).

    Returns:
        A new `TrainConfig` (`progress=False`: the panel shows its own). Raises ValueError for
        values it refuses (e.g. more fine-tuning steps than steps).
    """
    if base is None:
        steps = int(values["steps"])
        every = max(1, steps // 4)
        base = TrainConfig(
            log_every=max(1, min(10, steps // 20)), val_every=every, sample_every=every, checkpoint_every=every
        )
    train = routed(values, "train") | {"lr": float(values["lr"]), "amp": AMP[values["amp"]]}
    train["out"] = values["out"].strip() or None
    return dataclasses.replace(base, **train, size=int(values["size"]), progress=False)


def run_label(number: int, values: dict[str, Any], config: Any, pinned: dict[str, Any], continues: str = "") -> str:
    """A run's settings in one line, for the legend: "#2: 4x16, 64px holes 0.01-0.60, lr 2.0e-04, ...".

    Args:
        number: the run's number. values: {control name: value} at Train. config: the run's
            `TrainConfig`. pinned: the panel's pinned objects (their settings read "given ...").
        continues: which run it continues ("#1", a folder name), or "".
    """
    model = routed(values, "model")
    conv = "" if model["conv"] == CONVS[0] else f" {model['conv']}"  # the paper's layer goes without saying
    arch = "given model" if "model" in pinned else f"{model['layers']}x{model['base_channels']}{conv}"
    lo, hi = values["hole_range"]
    data = "given data" if "data" in pinned else f"{config.size}px holes {lo:.2f}-{hi:.2f}"
    weights = "/".join(f"{float(w):g}" for w in routed(values, "loss").values())
    loss = "given loss" if "loss" in pinned else f"w {weights}"
    steps = f"{int(values['steps'])} steps" + (f" ({config.finetune_steps} fine-tune)" if config.finetune_steps else "")
    head = f"#{number}" + (f" (continues {continues})" if continues else "")
    return f"{head}: {arch}, {data}, lr {config.lr:.1e}, batch {config.batch_size}, {steps}, {loss}"


def peek_size(data: Any) -> int | None:
    """Image side of a Dataset's first item ({"image"} dict, (image, mask) pair or bare image), else None."""
    try:
        item = data[0]
    except Exception:  # noqa: BLE001  (a DataLoader, an empty or unindexable source: keep the configured size)
        return None
    image = item["image"] if isinstance(item, dict) else item[0] if isinstance(item, (tuple, list)) else item
    return int(image.shape[-1]) if hasattr(image, "shape") else None


def training_controls(
    config: Any = None, pinned: dict[str, Any] | None = None, out: Any = None, start: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The panel's widgets, one per row of `TRAINING_CONTROLS`; pinned ones disabled, saying why.

    Args:
        config: a `TrainConfig` for the start values (see `start_values`), or None.
        pinned: {"model" | "data" | "loss": the object the caller passed}; the controls with that
            target are disabled and their tooltip reads "pinned: <why>".
        out: start value of the "out" control (default: `config.out`, else empty).
        start: start values by control name, over the ones above (e.g. {"layers": 6}).

    Returns:
        {name: widget}, in table order.

    Raises:
        ValueError: `start` names a control that does not exist, or one that is pinned.
    """
    pinned = pinned or {}
    values = start_values(config, pinned.get("model"), pinned.get("loss"))
    values["out"] = str(out or values["out"])
    start = dict(start or {})
    if sorted(set(start) - set(values)):
        raise ValueError(f"start: no control named {sorted(set(start) - set(values))}; they are {list(values)}")
    held = [row.name for row in TRAINING_CONTROLS if row.name in start and row.target in pinned]
    if held:
        raise ValueError(f"start: {held} are pinned by what was passed in; leave them out of start")
    values.update(start)
    devices = ("auto", "cpu", *(["cuda"] if torch.cuda.is_available() else []))
    table = [dataclasses.replace(r, options=devices) if r.name == "device" else r for r in TRAINING_CONTROLS]
    controls = build_controls(table, values)
    for row in TRAINING_CONTROLS:
        if row.target in pinned:
            controls[row.name].disabled = True
            controls[row.name].tooltip = f"pinned: {PINNED_WHY[row.target]}"
    return controls
