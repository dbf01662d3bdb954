"""The fills the inpainting studio compares: your networks, your checkpoints, pretrained ones, classical ones.

`discover_methods` lists, without loading anything: the models passed in, every training
run under `outputs/runs/*/` (its `best.pt` and its newest good `ckpt_<step>.pt`, once when both
hold the same weights; found by the train room's run discovery: `pconv.train.run_folders`,
`pconv.train.newest_good`, and ranked by `pconv.train.best_runs`), each pretrained PConv checkpoint
already in the local cache (`pconv.pretrained.cached()`), and the classical fills of
`pconv.evaluation.available_baselines()`. The network ticked at start is the run with the best
validation PSNR among those trained at least `pconv.train.runs.MIN_STEPS` steps: a smoke or tiny
run fills with noise, so it is listed but never ticked. A `Method` loads its
network on first use and keeps it on its device in eval mode, so every later run pays
only the forward pass. Networks with `inpaint` (the partial-convolution U-Net of Liu et
al. 2018, arXiv:1804.07723) fill images of any size through it; any other callable is
treated as a forward `f(image, mask) -> output` and composited here.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from pconv.evaluation import available_baselines
from pconv.nn import composite
from pconv.notebook.studio_runs import run_checkpoints
from pconv.pretrained import cached, load_pretrained
from pconv.train import model_from_checkpoint
from pconv.train.runs import MIN_STEPS
from pconv.utils import resolve_device

__all__ = ["Method", "ResultCache", "discover_methods", "no_default_network"]

log = logging.getLogger("pconv.notebook.studio")
DEFAULT_CLASSICAL = ("harmonic", "telea")  # ticked at start: milliseconds each (biharmonic takes seconds)


class Method:
    """One fill: a network (loaded lazily, once) or a classical function.

    Attributes:
        name: the label shown in the studio and the key of `InpaintStudio.run()`'s result.
        kind: "model" (passed in), "checkpoint", "pretrained" or "classical".
        source: where it comes from (a path, a registry name, a function name).
        default: ticked when the studio opens.
        detail: what else the studio shows beside the name, e.g. "2000 steps, val PSNR 24.3 dB".
        steps: training steps of a run's checkpoint (None for other methods).
        load_seconds: time the first load took (0 until loaded).
    """

    def __init__(
        self,
        name: str,
        kind: str,
        source: str,
        load: Callable[[], Any],
        default: bool = False,
        *,
        detail: str = "",
        steps: int | None = None,
    ):
        self.name, self.kind, self.source, self.default = name, kind, source, default
        self.detail, self.steps = detail, steps
        self._load, self._fn, self.load_seconds = load, None, 0.0

    def __repr__(self) -> str:
        return f"Method({self.name!r}, kind={self.kind!r}, source={self.source!r})"

    @property
    def is_network(self) -> bool:
        return self.kind != "classical"

    def get(self) -> Any:
        """The network or function, loaded on the first call and cached."""
        if self._fn is None:
            start = time.perf_counter()
            self._fn = self._load()
            self.load_seconds = time.perf_counter() - start
        return self._fn

    def fill(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The composite: known pixels of `image` exactly, the method's fill in the holes.

        Args:
            image: (3, H, W) float in [0, 1].
            mask: (1, H, W) float, 1 = valid, 0 = hole.

        Returns:
            (3, H, W) float in [0, 1] on the CPU.
        """
        out = self.get()(image, mask) if self.kind == "classical" else self.raw(image, mask)
        return _composite(image, mask, out, self.name)

    def raw(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """What the method predicts everywhere, known pixels included (classical fills: their composite).

        Args:
            image: (3, H, W) float in [0, 1].
            mask: (1, H, W) float, 1 = valid, 0 = hole.

        Returns:
            (3, H, W) float in [0, 1] on the CPU.
        """
        fn = self.get()
        if self.kind == "classical":
            return self.fill(image, mask)
        if hasattr(fn, "predict"):  # a PConvUNet: its output at any size, padded and cropped as inpaint does
            return fn.predict(image, mask).detach().to("cpu", torch.float32)
        if hasattr(fn, "inpaint"):  # a network that exposes only its composite
            return _composite(image, mask, fn.inpaint(image, mask), self.name)
        out = _call_forward(fn, image, mask).detach().cpu().float()
        _check_finite(self.name, out)  # before the clamp, which would turn inf into a plausible white
        return out.clamp(0, 1)


class ResultCache:
    """The newest `items` results by (method, image-and-mask key), shared by the kernel and the run thread."""

    def __init__(self, items: int):
        self.items, self._store, self._lock = items, OrderedDict(), threading.Lock()

    def get(self, method: Method, image: torch.Tensor, mask: torch.Tensor, key: tuple, raw: bool = False):
        """(output, seconds, cached): the stored result, else `method.raw` / `method.fill` computed now.

        Args:
            method: the fill. image: (3, H, W) in [0, 1]. mask: (1, H, W), 1 = valid.
            key: identifies (image, mask); equal keys must mean equal inputs.
            raw: the output before compositing (networks only; a classical fill gives its composite).
        """
        if method.is_network and not raw:  # a network's composite is its raw output's: one forward serves both views
            out, seconds, cached = self.get(method, image, mask, key, raw=True)
            return _composite(image, mask, out, method.name), seconds, cached
        slot = (method.name, key)  # networks store their raw output, classical fills their composite
        with self._lock:
            if slot in self._store:
                self._store.move_to_end(slot)
                out, seconds = self._store[slot]
                return out, seconds, True
        method.get()  # load outside the timing: the studio shows the load time on its own
        start = time.perf_counter()
        out = method.raw(image, mask) if method.is_network else method.fill(image, mask)
        seconds = time.perf_counter() - start
        _check_finite(method.name, out)  # before caching: a NaN fill is an error, never a result
        with self._lock:
            self._store[slot] = (out, seconds)
            while len(self._store) > self.items:
                self._store.popitem(last=False)
        return out, seconds, False


def _check_finite(name: str, out: torch.Tensor) -> None:
    """Raise ValueError when `out` holds NaN or inf (a diverged network, a broken fill)."""
    bad = int((~torch.isfinite(out)).sum())
    if bad:
        raise ValueError(
            f"{name} returned {bad} non-finite value(s) (NaN or inf) of {out.numel()}: its weights have "
            "probably diverged; use an earlier checkpoint"
        )


def _composite(image: torch.Tensor, mask: torch.Tensor, output: torch.Tensor, name: str) -> torch.Tensor:
    output = output.detach().to("cpu", torch.float32)
    if output.ndim == 4 and output.shape[0] == 1:
        output = output[0]  # a network's inpaint keeps the batch it was given
    if output.shape != image.shape:
        raise ValueError(f"the method returned shape {tuple(output.shape)}, expected {tuple(image.shape)}")
    _check_finite(name, torch.where(mask > 0.5, 0.0, output))  # under the holes: what the composite shows
    return composite(image, mask, output.clamp(0, 1))  # known pixels exactly


def _call_forward(fn: Callable, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A plain callable `fn(image (1, 3, H, W), mask (1, 1, H, W)) -> output` (or `(output, mask)`)."""
    with torch.inference_mode():
        out = fn(image[None], mask[None])
    out = out[0] if isinstance(out, (tuple, list)) else out  # (output, output_mask) as PConvUNet's forward
    return out[0] if out.ndim == 4 else out  # (3, H, W)


def _passed_models(models: Any) -> list[tuple[str, Any]]:
    """Normalise `models` (None, one, a list or a name -> model dict) to (name, model) pairs."""
    if models is None:
        return []
    if isinstance(models, Mapping):
        pairs = [(str(k), v) for k, v in models.items()]
    elif isinstance(models, (list, tuple)):
        pairs = [(f"model {i + 1}" if len(models) > 1 else "model", m) for i, m in enumerate(models)]
    else:
        pairs = [("model", models)]
    for name, m in pairs:
        if not (callable(m) or isinstance(m, (str, os.PathLike))):
            raise TypeError(
                f"models[{name!r}] is a {type(m).__name__}; pass a network (e.g. PConvUNet), a callable "
                "f(image, mask) -> output, or the path of a checkpoint file"
            )
    return pairs


def _checkpoint_loader(path: Path, device: torch.device) -> Callable[[], Any]:
    def load() -> Any:
        return model_from_checkpoint(path, device)  # eval mode, on the device

    return load


def _checkpoint_method(c: Any, device: torch.device) -> Method:
    """A run's checkpoint (`pconv.notebook.studio_runs.RunCheckpoint`) as a `Method`."""
    return Method(c.name, "checkpoint", str(c.path), _checkpoint_loader(c.path, device), detail=c.detail, steps=c.steps)


def _cached_pretrained() -> list[str]:
    """Names of the pretrained checkpoints in the cache (`pconv.pretrained.cached`); [] if it cannot be listed."""
    try:
        return cached()
    except Exception as e:  # noqa: BLE001  (a broken cache must not keep the studio from opening)
        log.warning("could not list the cached pretrained models: %s: %s", type(e).__name__, e)
        return []


def _pretrained_loader(name: str, device: torch.device) -> Callable[[], Any]:
    def load() -> Any:
        return load_pretrained(name, device=device)  # eval mode, on the device

    return load


def discover_methods(models: Any = None, runs: str | os.PathLike | None = None) -> list[Method]:
    """Every fill the studio can offer, networks first; nothing is loaded here.

    Args:
        models: None, a network / callable / checkpoint path, a list of them, or a dict name -> one.
        runs: the folder of training runs (default `$PCONV_OUTPUT_DIR/runs`).

    Returns:
        Methods in display order: models passed in, checkpoints of the runs trained at least
        `MIN_STEPS` steps (best validation PSNR first: best.pt, then the newest step when its
        weights differ), cached pretrained models, checkpoints of smoke and tiny runs (newest
        first), classical fills. Ticked by default: the models passed in, else the best run's
        checkpoint, else the first pretrained model (never a smoke or tiny run); and the fast
        classical fills (harmonic, Telea).

    Raises:
        TypeError: an entry of `models` is neither a network, a callable nor a path.
    """
    device = resolve_device("auto")
    methods = []
    for name, m in _passed_models(models):
        if isinstance(m, (str, os.PathLike)):
            methods.append(Method(name, "checkpoint", str(m), _checkpoint_loader(Path(m), device), True))
        else:
            methods.append(Method(name, "model", type(m).__name__, lambda m=m: m, True))
    passed, checkpoints = bool(methods), run_checkpoints(runs)
    trusted = [_checkpoint_method(c, device) for c in checkpoints if c.trusted]
    pretrained = [
        Method(f"pretrained/{n}", "pretrained", n, _pretrained_loader(n, device)) for n in _cached_pretrained()
    ]
    if not passed and (trusted or pretrained):
        (trusted or pretrained)[0].default = True  # the best trusted run, else the first cached pretrained model
    methods += trusted + pretrained + [_checkpoint_method(c, device) for c in checkpoints if not c.trusted]
    for name, fn in available_baselines().items():
        methods.append(Method(name, "classical", fn.__name__, lambda fn=fn: fn, name in DEFAULT_CLASSICAL))
    taken = set()
    for m in methods:  # a passed model named like a checkpoint or a fill must not shadow it
        base, i = m.name, 2
        while m.name in taken:
            m.name, i = f"{base} ({i})", i + 1
        taken.add(m.name)
    return methods


def no_default_network(methods: list[Method]) -> str | None:
    """Why no network is ticked at start, in one sentence for the studio's status line; None when one is.

    Args:
        methods: what `discover_methods` returned.
    """
    networks = [m for m in methods if m.is_network]
    if any(m.default for m in networks):
        return None
    if not networks:
        return "no trained network yet: 00_quickstart trains one in a few CPU minutes"
    longest = max((m.steps for m in networks if m.steps is not None), default=None)
    trained = f"the longest: {longest} steps, a smoke or tiny run" if longest is not None else "none could be read"
    return (
        f"no network ticked: no run under outputs/runs/ was trained at least {MIN_STEPS} steps and can be read "
        f"({trained}; such a run fills with noise); tick one under networks to look anyway, or train one with "
        "00_quickstart"
    )
