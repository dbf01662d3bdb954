"""Interactive notebook widgets (ipywidgets 8) for exploring masks and watching training.

`training_panel` trains an inpainting model (Liu et al. 2018, arXiv:1804.07723) from the
notebook: its controls make a `TrainConfig`, Train runs `Trainer.fit` in a background
thread (the kernel stays free, so Stop works), and loss curves and sample grids are drawn
into Output widgets as PNGs. `mask_explorer` puts the free-form mask generator of `pconv.masks` (DeepFill v2
strokes, Yu et al. 2019, arXiv:1806.03589; LaMa's thin / medium / thick strokes and
boxes, Suvorov et al. 2022, arXiv:2109.07161) behind sliders with a live preview.
Building a widget does no heavy work: figures are drawn when the widget is first
displayed or a control changes, never at construction.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import os
import threading
import time
from typing import Any

import ipywidgets as widgets
import numpy as np

__all__ = ["TrainingPanel", "mask_explorer", "training_panel"]


class _LazyPreview(widgets.VBox):
    """A VBox that renders its preview the first time it is displayed (see `mask_explorer`)."""

    def __init__(self, render, controls: dict, preview: widgets.Output, info: widgets.HTML, **kwargs):
        super().__init__(**kwargs)
        self._render, self.controls, self.preview, self.info, self.rendered = render, controls, preview, info, False

    def refresh(self) -> None:
        """Redraw the preview from the current control values."""
        self._render()
        self.rendered = True

    def _repr_mimebundle_(self, **kwargs):
        if not self.rendered:
            self.refresh()
        return super()._repr_mimebundle_(**kwargs)


def _png_output(fig, text: str = "<mask preview>") -> dict:
    """A display_data output holding `fig` as PNG: set on an Output widget, it shows without a kernel hook."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72)
    data = {"image/png": base64.b64encode(buf.getvalue()).decode("ascii"), "text/plain": text}
    return {"output_type": "display_data", "data": data, "metadata": {}}


def mask_explorer(size: int = 256, count: int = 8, seed: int = 0) -> widgets.VBox:
    """Sliders for `irregular_mask`'s parameters with a live grid of masks.

    Controls (in `.controls`): "hole_range", "family", "boxes", "size", "seed", "count".
    Mask i of the grid is `irregular_mask(size, size, hole_range, default_rng([seed, i]),
    family=..., boxes=...)`, so a grid can be reproduced outside the widget.

    Args:
        size: initial mask side in pixels (32-512).
        count: initial number of masks shown (1-32).
        seed: initial seed.

    Returns:
        The container widget (display it, or make it the last expression of a cell);
        `.refresh()` redraws, `.preview` is the Output holding the figure, `.info` the summary line.
    """
    from .masks import FAMILIES, hole_ratio, irregular_mask

    slider = {"continuous_update": False, "style": {"description_width": "initial"}}
    controls = {
        "hole_range": widgets.FloatRangeSlider(
            value=(0.01, 0.6), min=0.0, max=1.0, step=0.01, description="hole range", **slider
        ),
        "family": widgets.Dropdown(options=list(FAMILIES), value="freeform", description="strokes"),
        "boxes": widgets.Checkbox(value=False, description="boxes (LaMa)"),
        "size": widgets.IntSlider(value=size, min=32, max=512, step=32, description="size", **slider),
        "seed": widgets.IntSlider(value=seed, min=0, max=10_000, description="seed", **slider),
        "count": widgets.IntSlider(value=count, min=1, max=32, description="count", **slider),
    }
    preview, info = widgets.Output(), widgets.HTML()

    def render() -> None:
        from .plot import show_masks  # lazy: matplotlib only once something is drawn

        v = {k: c.value for k, c in controls.items()}
        start = time.perf_counter()
        masks = [
            irregular_mask(
                v["size"],
                v["size"],
                v["hole_range"],
                np.random.default_rng([v["seed"], i]),
                family=v["family"],
                boxes=v["boxes"],
            )
            for i in range(v["count"])
        ]
        ms = (time.perf_counter() - start) * 1e3
        ratios = [hole_ratio(m) for m in masks]
        fig = show_masks(masks, ncols=min(8, len(masks)))
        preview.outputs = (_png_output(fig),)
        lo, hi = v["hole_range"]
        info.value = (
            f"{len(masks)} masks of {v['size']}x{v['size']} in {ms:.0f} ms; hole ratio "
            f"{min(ratios):.3f} to {max(ratios):.3f} (asked {lo:.2f}-{hi:.2f})"
        )

    box = _LazyPreview(
        render,
        controls,
        preview,
        info,
        children=[
            widgets.HBox([controls["hole_range"], controls["family"], controls["boxes"]]),
            widgets.HBox([controls["size"], controls["seed"], controls["count"]]),
            info,
            preview,
        ],
    )
    for c in controls.values():
        c.observe(lambda _change: box.refresh(), names="value")
    return box


# ---------------------------------------------------------------- training panel

_RENDER_LOCK = threading.Lock()  # one figure rendered at a time: matplotlib's text and font caches are shared
_RUN_IDS = itertools.count(1)


def _peek_size(data: Any) -> int | None:
    """Image side of a Dataset's first item ({"image"} dict, (image, mask) pair or bare image), else None."""
    try:
        item = data[0]
    except Exception:  # noqa: BLE001  (a DataLoader, an empty or unindexable source: keep the configured size)
        return None
    image = item["image"] if isinstance(item, dict) else item[0] if isinstance(item, (tuple, list)) else item
    return int(image.shape[-1]) if hasattr(image, "shape") else None


class TrainingPanel(widgets.VBox):
    """Controls, Train / Stop buttons, a status line, a live loss plot and sample grid (see `training_panel`).

    Attributes:
        controls: name -> control widget (see `training_panel` for the names).
        train_button, stop_button: the buttons; `start()` and `stop()` do what they do.
        status: HTML status line. plot, samples: Output widgets with the loss curves / latest samples.
        model: the model of the last run (or the one passed in). trainer: the last `Trainer` (None before
            the first run). history: its history (a list of dicts). error: the exception that ended the
            last run, or None. thread: the training thread of the last run.
    """

    def __init__(
        self,
        model: Any,
        train_data: Any,
        val_data: Any,
        loss_fn: Any,
        config: Any,
        controls: dict[str, widgets.Widget],
        **kwargs: Any,
    ):
        self.controls, self.model, self._train_data, self._val_data = controls, model, train_data, val_data
        self._loss_fn, self._config, self._given_model = loss_fn, config, model is not None
        self.trainer = self.error = self.thread = None
        self._stop_event, self._last_out = threading.Event(), None
        self.train_button = widgets.Button(description="Train", button_style="success", icon="play")
        self.stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.status = widgets.HTML("Set the controls and press <b>Train</b>: training runs in the background.")
        self.plot, self.samples = widgets.Output(), widgets.Output()
        self.train_button.on_click(lambda _b: self.start())
        self.stop_button.on_click(lambda _b: self.stop())
        c = controls
        rows = [
            ("optimisation", ["lr", "batch_size", "steps", "finetune_steps"]),
            ("data and model", ["size", "hole_range", "layers", "base_channels"]),
            ("loss weights", ["valid", "hole", "tv", "style", "perceptual"]),
            ("run", ["amp", "device", "out", "resume"]),
        ]
        children = [
            widgets.HBox(
                [widgets.HTML(f"<b>{title}</b>", layout={"width": "110px"}), *[c[k] for k in keys]],
                layout={"flex_flow": "row wrap"},
            )
            for title, keys in rows
        ]
        children += [widgets.HBox([self.train_button, self.stop_button, self.status]), self.plot, self.samples]
        super().__init__(children=children, **kwargs)

    # ------------------------------------------------------------------ public
    @property
    def running(self) -> bool:
        """True while a training thread is alive."""
        return self.thread is not None and self.thread.is_alive()

    @property
    def history(self) -> list[dict[str, Any]]:
        """The last run's history rows ([] before the first run)."""
        return self.trainer.history if self.trainer is not None else []

    def make_config(self) -> Any:
        """The `TrainConfig` the controls describe now (the run folder is resolved at `start`)."""
        from dataclasses import replace

        from .config import TrainConfig

        v = {k: c.value for k, c in self.controls.items()}
        steps = int(v["steps"])
        base = (
            self._config
            if self._config is not None
            else TrainConfig(
                log_every=max(1, min(10, steps // 20)),
                val_every=max(1, steps // 4),
                sample_every=max(1, steps // 4),
                checkpoint_every=max(1, steps // 4),
            )
        )
        amp = {"auto": None, "on": True, "off": False}[v["amp"]]
        return replace(
            base,
            steps=steps,
            batch_size=int(v["batch_size"]),
            lr=float(v["lr"]),
            size=int(v["size"]),
            finetune_steps=int(v["finetune_steps"]),
            amp=amp,
            device=v["device"],
            out=v["out"].strip() or None,
            progress=False,
        )

    def loss_weights(self) -> dict[str, float]:
        """The loss-weight controls as `InpaintingLoss` keyword arguments."""
        return {k: float(self.controls[k].value) for k in ("valid", "hole", "perceptual", "style", "tv")}

    def start(self) -> bool:
        """What Train does: read the controls and start training in a background thread.

        Returns:
            True when a run started; False when one is already running or a control is invalid
            (the status line says why).
        """
        from .utils import output_dir

        if self.running:
            return False
        try:
            config = self.make_config()
            resume = bool(self.controls["resume"].value)
            if config.out is None:
                if resume and self._last_out is None:
                    raise ValueError("resume: nothing to resume yet; name the run folder ('out') to continue it")
                config.out = (
                    str(self._last_out)
                    if resume
                    else str(output_dir() / "runs" / f"panel-{time.strftime('%Y%m%d-%H%M%S')}-{next(_RUN_IDS)}")
                )
            layers = getattr(self.model, "layers", None) if self._given_model else self.controls["layers"].value
            if self._train_data is None and layers and config.size % 2**layers:
                raise ValueError(f"size {config.size} must be a multiple of 2**layers = {2**layers}")
        except ValueError as e:
            self._say(f"<span style='color:#b00'>cannot start: {html.escape(str(e))}</span>")
            return False
        self._stop_event.clear()
        self.error, self._last_out = None, config.out
        self.train_button.disabled, self.stop_button.disabled = True, False
        self._say(f"starting: {config.steps} steps, run folder <code>{html.escape(config.out)}</code>")
        self.thread = threading.Thread(target=self._run, args=(config, resume), name="pconv-training", daemon=True)
        self.thread.start()
        return True

    def stop(self) -> None:
        """What Stop does: end the run after the current step; `fit` then writes a checkpoint."""
        self._stop_event.set()
        if self.running and self.trainer is not None:
            self.trainer.stop()
            self._say("stopping after this step ...")

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the training thread; True when no run is going on any more."""
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.running

    # ------------------------------------------------------------------ the training thread
    def _run(self, config: Any, resume: bool) -> None:
        try:
            from .train import Trainer

            model, train_data, val_data, loss_fn = self._build(config)
            trainer = Trainer(model, loss_fn, config, callbacks=[_PanelCallback(self)])
            self.trainer, self.model = trainer, model
            trainer.fit(train_data, val_data, resume=resume)
            how = "stopped" if trainer.step < config.steps else "finished"
            self._say(
                f"{how} at step {trainer.step}/{config.steps}; checkpoint in "
                f"<code>{html.escape(str(trainer.out))}</code>"
            )
        except Exception as e:  # noqa: BLE001  (shown in the panel: a thread has no caller to raise to)
            self.error = e
            self._say(f"<span style='color:#b00'>training failed: {type(e).__name__}: {html.escape(str(e))}</span>")
        finally:
            self.train_button.disabled, self.stop_button.disabled = False, True

    def _build(self, config: Any) -> tuple[Any, Any, Any, Any]:
        """Model, data and loss for a run: the ones passed in, else defaults built from the controls."""
        import torch

        from .losses import InpaintingLoss
        from .models import PConvUNet
        from .samples import sample_inpainting_data

        model = self.model if self._given_model else None
        if model is None:
            torch.manual_seed(config.seed)
            kwargs = {
                "layers": int(self.controls["layers"].value),
                "base_channels": int(self.controls["base_channels"].value),
            }
            model = PConvUNet(**kwargs)
        train_data, val_data = self._train_data, self._val_data
        if train_data is None:
            s, holes = config.size, tuple(self.controls["hole_range"].value)
            train_data, sample_val = sample_inpainting_data(s, holes, val_length=8, masks=10_000, seed=config.seed)
            val_data = sample_val if val_data is None else val_data
        else:
            config.size = _peek_size(train_data) or config.size  # the checkpoint records the real size
        loss_fn = self._loss_fn
        if loss_fn is None:
            w = self.loss_weights()
            loss_fn = InpaintingLoss(**w, vgg="auto" if w["perceptual"] or w["style"] else None)
        return model, train_data, val_data, loss_fn

    def _say(self, text: str) -> None:
        self.status.value = text


class _PanelCallback:
    """Trainer callback: status line, loss curves and samples into the panel's widgets, from the training thread.

    Figures are rendered to PNG and set as the Output widgets' outputs: no IPython display
    hook is involved, so nothing lands in whichever cell happens to be running meanwhile.
    """

    def __init__(self, panel: TrainingPanel, min_interval: float = 2.0):
        self.panel, self.min_interval = panel, min_interval
        self._t0 = self._last_plot = self._last_status = 0.0

    def on_fit_start(self, trainer: Any) -> None:
        self._t0 = self._last_plot = time.monotonic()  # first curve after min_interval; the last one always
        if self.panel._stop_event.is_set():  # Stop pressed while the run was being set up
            trainer.stop()

    def on_step_end(self, trainer: Any, step: int, terms: dict[str, float] | None) -> None:
        if self.panel._stop_event.is_set():
            trainer.stop()
        now = time.monotonic()
        if now - self._last_status >= 0.5:
            self._last_status = now
            loss = f", loss {terms['total']:.4g}" if terms and "total" in terms else ""
            self.panel._say(f"step {step}/{trainer.config.steps}{loss} ({now - self._t0:.0f} s)")

    def on_log(self, trainer: Any, row: dict[str, Any]) -> None:
        if time.monotonic() - self._last_plot >= self.min_interval:
            self._redraw(trainer)

    def on_samples(self, trainer: Any, step: int, figure: Any) -> None:
        saved = trainer.out / "samples" / f"step_{step:07d}.png"  # the trainer has just written it
        if saved.is_file():
            data = {
                "image/png": base64.b64encode(saved.read_bytes()).decode("ascii"),
                "text/plain": f"<samples at step {step}>",
            }
            self.panel.samples.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)
        else:
            with _RENDER_LOCK:
                self.panel.samples.outputs = (_png_output(figure, f"<samples at step {step}>"),)

    def on_fit_end(self, trainer: Any, history: list[dict[str, Any]]) -> None:
        self._redraw(trainer)

    def _redraw(self, trainer: Any) -> None:
        from .plot import plot_history

        keys = sorted({k for row in trainer.history for k in row if k.startswith(("loss/", "val/")) or k == "lr"})
        if not keys:
            return
        with _RENDER_LOCK:
            fig = plot_history(trainer.history, keys)
            self.panel.plot.outputs = (_png_output(fig, "<training history>"),)
        self._last_plot = time.monotonic()


def training_panel(
    model: Any = None,
    train_data: Any = None,
    val_data: Any = None,
    *,
    loss_fn: Any = None,
    config: Any = None,
    out: str | os.PathLike | None = None,
) -> TrainingPanel:
    """A panel to train an inpainting model from the notebook: controls, Train / Stop, live plots.

    Building it trains nothing and builds no model: Train reads the controls, builds a
    `TrainConfig` and runs `Trainer.fit` in a background thread, so the kernel stays
    responsive and Stop (`trainer.stop()`) ends the run after the current step with a
    checkpoint. Loss curves (`plot_history`) and the trainer's sample grids are drawn into
    the panel's Output widgets from that thread. Afterwards `panel.model`, `panel.trainer`
    and `panel.history` hold the last run; `panel.join(timeout)` waits for it. Tick
    "resume" to continue the run in "out" (or this panel's last run) up to "steps".

    Controls (in `.controls`): "lr", "batch_size", "steps", "finetune_steps" (the paper's
    second phase: lr 5e-5 with the encoder's batch norm frozen), "size", "hole_range",
    "layers", "base_channels", "valid", "hole", "tv", "style", "perceptual" (loss weights,
    Liu et al. 2018 eq. 7; VGG terms only when their weight is > 0, and only when torchvision's
    ImageNet VGG16 loads), "amp" (auto / on / off), "device", "out" (run folder; empty: a
    new folder under `$PCONV_OUTPUT_DIR/runs`), "resume".

    Args:
        model: the network to train (e.g. `PConvUNet`); None: a fresh `PConvUNet(layers,
            base_channels)` from the controls for each run.
        train_data: a Dataset (or DataLoader) of {"image", "mask"}; None: random crops of the
            offline sample photos (`SampleImageDataset`) with `MaskGenerator` masks in the
            "hole_range" at "size" (these two controls are then used; otherwise disabled).
        val_data: held-out data for validation and the sample grid; None with default
            training data: 8 crops of the sample set's val photos.
        loss_fn: the loss; None: `InpaintingLoss` with the weight controls (then disabled).
        config: a `TrainConfig` giving the controls' start values and every other setting;
            None: `TrainConfig()` defaults, logging and checkpoints scaled to "steps".
        out: start value of the run-folder control (default: `config.out`, else empty).

    Returns:
        The `TrainingPanel` (an ipywidgets VBox): display it, or make it a cell's last expression.
    """
    import torch

    from .config import TrainConfig

    cfg = config if config is not None else TrainConfig(size=64, steps=200, batch_size=4)
    style = {"description_width": "initial"}
    num = {"style": style, "layout": {"width": "150px"}}
    devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    if cfg.device not in devices:
        devices.append(cfg.device)
    layers = getattr(model, "layers", 4)
    base = (getattr(model, "config", None) or {}).get("base_channels", 16) if model is not None else 16
    weights = dict(
        getattr(loss_fn, "weights", None) or {"valid": 1.0, "hole": 6.0, "perceptual": 0.05, "style": 120.0, "tv": 0.1}
    )
    controls: dict[str, widgets.Widget] = {
        "lr": widgets.FloatLogSlider(
            value=cfg.lr,
            base=10,
            min=-6,
            max=-1,
            step=0.1,
            readout_format=".1e",
            description="lr",
            continuous_update=False,
            style=style,
        ),
        "batch_size": widgets.BoundedIntText(value=cfg.batch_size, min=1, max=4096, description="batch size", **num),
        "steps": widgets.BoundedIntText(value=cfg.steps, min=1, max=10**9, description="steps", **num),
        "finetune_steps": widgets.BoundedIntText(
            value=cfg.finetune_steps, min=0, max=10**9, description="of which fine-tune", **num
        ),
        "size": widgets.IntSlider(
            value=cfg.size, min=32, max=512, step=32, description="size", continuous_update=False, style=style
        ),
        "hole_range": widgets.FloatRangeSlider(
            value=(0.01, 0.6),
            min=0.0,
            max=1.0,
            step=0.01,
            description="hole range",
            continuous_update=False,
            style=style,
        ),
        "layers": widgets.BoundedIntText(value=layers, min=1, max=9, description="layers", **num),
        "base_channels": widgets.Dropdown(
            options=sorted({8, 16, 32, 64, int(base)}), value=int(base), description="channels", **num
        ),
        **{
            k: widgets.BoundedFloatText(value=float(weights.get(k, 0.0)), min=0.0, max=1e6, description=k, **num)
            for k in ("valid", "hole", "tv", "style", "perceptual")
        },
        "amp": widgets.Dropdown(
            options=["auto", "on", "off"],
            value={None: "auto", True: "on", False: "off"}[cfg.amp],
            description="AMP",
            **num,
        ),
        "device": widgets.Dropdown(options=devices, value=cfg.device, description="device", **num),
        "out": widgets.Text(
            value=str(out or cfg.out or ""), placeholder="new folder under outputs/runs", description="out", style=style
        ),
        "resume": widgets.Checkbox(value=False, description="resume", indent=False),
    }
    for key, given in (
        ("size", train_data),
        ("hole_range", train_data),
        ("layers", model),
        ("base_channels", model),
        ("valid", loss_fn),
        ("hole", loss_fn),
        ("tv", loss_fn),
        ("style", loss_fn),
        ("perceptual", loss_fn),
    ):
        controls[key].disabled = given is not None
    return TrainingPanel(model, train_data, val_data, loss_fn, config, controls)
