"""Inpaint your own photo: draw the hole with the mouse, compare each method's fill (notebook 06).

NVIDIA and PConv-Keras showed partial-convolution inpainting (Liu et al. 2018,
arXiv:1804.07723) as a separate web demo. `InpaintStudio` puts it in the notebook, next to
your own checkpoints: an ipycanvas MultiCanvas shows the photo with the holes on top (a
black-and-white checker with an outline, seen on any photo); mouse strokes call the same
`paint` / `erase` as the Python API (the mask is computed in numpy, the canvas only shows it);
Inpaint runs the ticked methods (`pconv.notebook.studio_methods`) and shows one composite per
method with its time (`pconv.notebook.studio_tiles`). With live runs off, tiles that no longer
match the holes on screen are greyed until Inpaint is pressed.

Speed: the photo is sent to the canvas once per image, a stroke is previewed with a few
canvas commands and redrawn exactly once when it ends, networks stay loaded on their
device, and results are cached by (image, mask, method), so a rerun computes only what
changed. Runs happen in a background thread: the kernel keeps taking strokes meanwhile.
This module is the studio's API; the mask and its undo history live in `pconv.notebook.studio_mask`,
the widgets in `pconv.notebook.studio_ui`, the run thread in `pconv.notebook.studio_background`,
the pixels in `pconv.notebook.studio_image`, the fills in `pconv.notebook.studio_methods`, the
saved folder and the figure in `pconv.notebook.studio_report`.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as widgets
import numpy as np
import torch

from pconv.data import sample_names, sample_photo
from pconv.notebook.shown_once import ShownOnce
from pconv.notebook.studio_background import BackgroundRunner
from pconv.notebook.studio_image import open_image
from pconv.notebook.studio_mask import HoleMask, MaskEditing
from pconv.notebook.studio_methods import Method, ResultCache, discover_methods, no_default_network
from pconv.notebook.studio_report import write_folder
from pconv.notebook.studio_ui import LIVE_DEBOUNCE, StudioView
from pconv.utils import check_size, output_dir, user_path

__all__ = ["InpaintStudio", "inpaint_studio"]

UNDO_STEPS = 50  # masks kept for undo (256 KB each at 512x512)
CACHE_ITEMS = 48  # cached results (3 MB each at 512x512)
DEFAULT_SAMPLE = "chelsea"  # a held-out photo of the sample set: no sample-trained model has seen it


class InpaintStudio(ShownOnce, MaskEditing, widgets.VBox):
    """Draw holes on a photo and compare what each inpainting method puts there (see `inpaint_studio`).

    Coordinates are image pixels of the working image: x = column, y = row, pixel centres
    at integers. Every change to the mask is one undo step (a mouse stroke, from press to
    release, is one). The mask API (`mask`, `hole_ratio`, `paint`, `erase`, `undo`, `clear`,
    `random_mask`, `begin_stroke`, `end_stroke`) is `pconv.notebook.studio_mask.MaskEditing`'s.

    Attributes:
        size: the working size (long side, pixels). note: what happened to the last image.
        results: {method: (3, H, W) composite} of the last run; errors: {method: message};
            times: {method: seconds}.
        controls, canvas, tiles, status: the widgets (see `pconv.notebook.studio_ui.StudioView`).
    """

    def __init__(self, image: Any = None, models: Any = None, size: int = 512, runs: str | os.PathLike | None = None):
        self.size = check_size(size, "size")
        self._lock = threading.RLock()  # image and mask: the kernel thread paints, the run thread reads
        self._mask = HoleMask(UNDO_STEPS, self._lock)
        self._cache = ResultCache(CACHE_ITEMS)
        self._image_key, self._load_shown, self._shown_key = 0, set(), None
        self.results, self.errors, self.times, self.note = {}, {}, {}, ""
        found = discover_methods(models, runs)
        self._methods: dict[str, Method] = {m.name: m for m in found}
        self._rgb, self._image = np.zeros((1, 1, 3), np.uint8), torch.zeros(3, 1, 1)
        self._view = StudioView(self, list(sample_names("all")), no_default_network(found))
        self.controls, self.canvas, self.tiles, self.status = (
            self._view.controls,
            self._view.canvas,
            self._view.tiles,
            self._view.status,
        )
        self._runner = BackgroundRunner(lambda: self._run(self.selected), self._view.run_failed)
        super().__init__(children=self._view.children)
        self.add_class("pconv-studio")
        if image is None:
            self.show_sample(DEFAULT_SAMPLE)
        else:
            self.set_image(image)

    # ------------------------------------------------------------------ the image
    @property
    def image(self) -> torch.Tensor:
        """The working image, (3, H, W) float in [0, 1]."""
        return self._image.clone()

    def set_image(self, image: Any, name: str | None = None) -> None:
        """Open a photo; the mask, undo history and results start afresh.

        Args:
            image: a file path, the bytes of an image file, a PIL image (EXIF orientation
                applied), a numpy array (H, W[, 1|3|4]) or a tensor (3, H, W); uint8, uint16 or
                float in [0, 1]. Grey becomes RGB, transparency is composited over white.
                Larger than `size` on its long side: resized to it (the note says so).
            name: how the note and error messages call the image (default: the file name or the type).

        Raises:
            pconv.data.ImageLoadError: a file that cannot be decoded (names it and why).
            ValueError, TypeError: an array or object that is not an image.
        """
        rgb, note = open_image(image, self.size, name)
        self._use(rgb, note)

    def show_sample(self, name: str) -> None:
        """Open one of the offline sample photos (`pconv.data.sample_images("all")`) by name."""
        rgb, note = open_image(sample_photo(name), self.size, f"sample photo {name!r}")
        self._use(rgb, note, sample=name)

    def _use(self, rgb: np.ndarray, note: str, sample: str | None = None) -> None:
        h, w = rgb.shape[:2]
        with self._lock:
            self._rgb = rgb
            self._mask.reset((h, w))
            self._image = torch.from_numpy(rgb.transpose(2, 0, 1) / np.float32(255)).float()  # (3, H, W)
            self._image_key += 1
            self.results, self.errors, self.times, self.note = {}, {}, {}, note
            self._shown_key = None
        self._view.image_changed(rgb, note, sample)

    # ------------------------------------------------------------------ the fills
    @property
    def methods(self) -> list[str]:
        """Names of every fill on offer, networks first (see `pconv.notebook.studio_methods.discover_methods`)."""
        return list(self._methods)

    def method(self, name: str) -> Method:
        """The `Method` called `name` (its kind, source, load time)."""
        if name not in self._methods:
            raise ValueError(f"unknown method {name!r}; the studio offers: {', '.join(self._methods)}")
        return self._methods[name]

    @property
    def selected(self) -> list[str]:
        """The ticked methods (what Inpaint and `run()` compute); assign a list of names to tick others."""
        return self._view.selected

    @selected.setter
    def selected(self, names: Sequence[str]) -> None:
        wanted = {self.method(n).name for n in names}
        for name, box in self._view.checks.items():
            box.value = name in wanted

    def _snapshot(self) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        """(image, mask, key) as they are now; `key` names the pair in the result cache."""
        with self._lock:
            hole = self._mask.copy()
            image, image_key = self._image, self._image_key
        digest = hashlib.blake2b(np.packbits(hole).tobytes(), digest_size=16).digest()
        return image, torch.from_numpy((~hole).astype(np.float32))[None], (image_key, hole.shape, digest)

    def _result(self, name: str, image: torch.Tensor, mask: torch.Tensor, key: tuple, raw: bool = False):
        """(output, seconds, cached) of one method; `raw` gives the output before compositing."""
        if not raw and not (mask == 0).any():
            return image.clone(), 0.0, False  # nothing to fill: the composite is the image itself
        return self._cache.get(self.method(name), image, mask, key, raw)

    def run(self, methods: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
        """Fill the holes with each method (default: the ticked ones) and show the results.

        Unchanged inputs are not recomputed (results are cached per image, mask and method).
        A method that fails is left out of the result; its message is in `errors` and its tile.

        Args:
            methods: names from `methods`; None for the ticked ones.

        Returns:
            {method: (3, H, W) composite in [0, 1]}: known pixels exactly as in `image`.
        """
        results = self._run(self.selected if methods is None else [self.method(n).name for n in methods])
        for name, message in self.errors.items():
            warnings.warn(f"inpaint studio: {name} failed: {message}", RuntimeWarning, stacklevel=2)
        return results

    def _run(self, names: list[str]) -> dict[str, torch.Tensor]:
        image, mask, key = self._snapshot()
        raw_view = self._view.showing_raw
        self._view.run_started(names)
        results, errors, times, start = {}, {}, {}, time.perf_counter()
        for name in names:
            try:
                out, seconds, cached = self._result(name, image, mask, key)  # ValueError when not finite
                shown = self._result(name, image, mask, key, raw=True) if raw_view else (out, seconds, cached)
                load = self.method(name).load_seconds if name not in self._load_shown else 0.0
                self._load_shown.add(name)
                self._view.show_result(name, *shown, load)
                results[name], times[name] = out, seconds  # only once it showed: a result or an error, never both
            except Exception as e:  # noqa: BLE001  (one method's failure must not hide the others)
                errors[name] = f"{type(e).__name__}: {e}"
                self._view.show_error(name, errors[name])
        self.results, self.errors, self.times = results, errors, times
        self._view.run_done(results, errors, time.perf_counter() - start, float((mask == 0).float().mean()))
        self._shown_key = key
        if self._snapshot()[2] != key:  # the holes changed while it ran
            self._mark_stale()
        return results

    def run_in_background(self, delay: float = 0.0) -> None:
        """What Inpaint does: run the ticked methods in a background thread after `delay` seconds.

        Requests made while a run is going (or waiting) coalesce into one more run.
        """
        self._runner.request(delay)

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for background runs to finish; True unless `timeout` (seconds) ran out first."""
        return self._runner.wait(timeout)

    def _mask_changed(self, stroke: bool = False, delay: float = LIVE_DEBOUNCE) -> None:
        if not stroke and self._view.live:
            self._runner.request(delay)  # first: the run starts while the hole layer is redrawn
        self._view.mask_changed(self._mask.hole, stroke)
        if stroke:
            self._mark_stale()  # a stroke in progress changes the holes: no need to compare
        elif self._shown_key is not None:  # undo may bring back the holes the tiles were filled for
            self._mark_stale(self._snapshot()[2] != self._shown_key)

    def _mark_stale(self, stale: bool = True) -> None:
        """Grey the tiles when they no longer fill the holes on screen (with live runs, a rerun comes instead)."""
        if not (stale and self._view.live):
            self._view.mark_stale(stale, self.hole_ratio)

    def raw_output(self, method: str) -> torch.Tensor:
        """A network's prediction everywhere, before compositing, for the current image and mask.

        Args:
            method: a name from `methods` (a classical fill gives its composite).

        Returns:
            (3, H, W) float in [0, 1].
        """
        image, mask, key = self._snapshot()
        return self._result(self.method(method).name, image, mask, key, raw=True)[0]

    def save(self, folder: str | os.PathLike | None = None) -> Path:
        """Write image.png, mask.png (white = valid), one PNG per ticked method's result, and studio.json.

        Everything that can be written is; a method that failed or gave a non-finite result is
        named under "errors" in studio.json and in a warning.

        Args:
            folder: where to write; None for a new `$PCONV_OUTPUT_DIR/studio/<date-time>/`.

        Returns:
            The folder.

        Raises:
            pconv.utils.WriteFailedError: the disk is full or not writable; nothing half-written is left.
        """
        results = self._run(self.selected)
        with self._lock:
            rgb, hole = self._rgb.copy(), self._mask.copy()
        info = {"note": self.note, "hole_ratio": float(hole.mean()), "errors": dict(self.errors)}
        folder = user_path(folder) if folder is not None else output_dir() / "studio" / time.strftime("%Y%m%d-%H%M%S")
        written = write_folder(folder, rgb, hole, results, self.times, info)
        for name, message in info["errors"].items():  # studio.json lists them too
            warnings.warn(f"inpaint studio: saved {written} without {name}: {message}", RuntimeWarning, stacklevel=2)
        return written


def inpaint_studio(image: Any = None, models: Any = None, size: int = 512) -> InpaintStudio:
    """Open the inpainting studio; in a notebook it shows itself.

    Args:
        image: what `InpaintStudio.set_image` takes; None for a sample photo.
        models: a network, a callable f(image, mask) -> output, a checkpoint path, a list of
            them or a dict name -> one; added to the checkpoints under `outputs/runs/*/`, the
            cached pretrained models and the classical fills.
        size: the working size: images larger than this on their long side are resized.

    Returns:
        The `InpaintStudio` (an ipywidgets VBox).
    """
    studio = InpaintStudio(image, models, size)
    studio.display_in_notebook()
    return studio
