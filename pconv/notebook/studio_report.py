"""What an inpainting-studio session leaves behind: a folder of PNGs and a side-by-side figure.

`write_folder` keeps a session reproducible outside the notebook (the photo, the mask as an
8-bit PNG with white = valid as everywhere in pconv, each method's composite, the times);
`comparison_figure` lays the masked photo and each method's composite side by side, as the
qualitative figures of Liu et al. 2018 (arXiv:1804.07723, Fig. 5-7) compare methods.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

from pconv.data import publish_folder
from pconv.evaluation.figures import HOLE_GREY
from pconv.notebook.studio_image import to_rgb_array
from pconv.utils import user_path

__all__ = ["comparison_figure", "write_folder"]


def _slug(name: str) -> str:
    """A file-name-safe version of a method name ("run-1/best" -> "run-1_best")."""
    keep = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip("._")
    return keep or "method"


def write_folder(
    folder: Path,
    rgb: np.ndarray,
    hole: np.ndarray,
    results: dict[str, torch.Tensor],
    times: dict[str, float],
    info: dict[str, Any],
) -> Path:
    """Write image.png, mask.png (white = valid, 8-bit), one PNG per result and studio.json into a new folder.

    Everything that can be written is: a result that cannot be turned into an image (NaN, a
    wrong shape) is left out, named with the reason under "not_saved" in studio.json, with
    one warning. The files are written into a hidden sibling and renamed into place, so a
    full disk leaves nothing half-written.

    Args:
        folder: the folder to create; when it exists, "-2", "-3", ... is appended (nothing is overwritten).
        rgb: uint8 (H, W, 3) image. hole: bool (H, W), True = hole.
        results: {method: (3, H, W) composite in [0, 1]}. times: {method: seconds}.
        info: more entries for studio.json.

    Returns:
        The folder written.

    Raises:
        pconv.utils.WriteFailedError: the disk is full or not writable (names the folder).
    """
    folder = user_path(folder)
    base, i = folder, 2
    while folder.exists():
        folder, i = base.with_name(f"{base.name}-{i}"), i + 1
    files, not_saved = {}, {}
    for name, out in results.items():
        try:
            files[name] = (f"{_slug(name)}.png", to_rgb_array(out, what=name))
        except ValueError as e:  # NaN, a wrong shape: the other results are still worth keeping
            not_saved[name] = str(e)
        else:
            while [f for f, _ in files.values()].count(files[name][0]) > 1:  # two names with one slug
                files[name] = (f"{Path(files[name][0]).stem}_.png", files[name][1])

    def build(tmp: Path) -> None:
        Image.fromarray(rgb).save(tmp / "image.png")
        Image.fromarray(np.where(hole, 0, 255).astype(np.uint8)).save(tmp / "mask.png")
        for file, pixels in files.values():
            Image.fromarray(pixels).save(tmp / file)
        methods = {n: {"file": f, "seconds": round(times.get(n, 0.0), 4)} for n, (f, _) in files.items()}
        record = {**info, "methods": methods, **({"not_saved": not_saved} if not_saved else {})}
        (tmp / "studio.json").write_text(json.dumps(record, indent=2) + "\n")

    while not publish_folder(folder, build, replace=False, what="studio session"):
        folder, i = base.with_name(f"{base.name}-{i}"), i + 1  # another save took the name meanwhile
    if not_saved:
        lines = "; ".join(f"{n}: {why}" for n, why in not_saved.items())
        warnings.warn(f"inpaint studio: saved {folder} without {len(not_saved)} result(s): {lines}", stacklevel=3)
    return folder


def comparison_figure(
    image: torch.Tensor, mask: torch.Tensor, results: dict[str, torch.Tensor], times: dict[str, float] | None = None
) -> Figure:
    """The masked input, then each method's composite, in one row; titles give the hole ratio and times.

    Args:
        image: (3, H, W) float in [0, 1].
        mask: (1, H, W), 1 = valid, 0 = hole.
        results: {method: (3, H, W) composite in [0, 1]}, e.g. `InpaintStudio.run()`.
        times: {method: seconds}, e.g. `InpaintStudio.times`.

    Returns:
        The Figure (renders inline as a cell's value; `fig.savefig(path)` writes it).
    """
    times = times or {}
    valid = mask[0].bool().numpy()[..., None]  # (H, W, 1)
    panels = [(np.where(valid, image.permute(1, 2, 0).numpy(), HOLE_GREY), f"input, {1 - valid.mean():.1%} hole")]
    for name, out in results.items():
        seconds = f"\n{times[name]:.2f} s" if name in times else ""
        panels.append((out.permute(1, 2, 0).numpy(), f"{name}{seconds}"))
    h, w = image.shape[-2:]
    side = 3.0
    fig = Figure(figsize=(side * len(panels), side * h / w + 0.6), layout="constrained")
    for ax, (pixels, title) in zip(np.atleast_1d(fig.subplots(1, len(panels))), panels):
        ax.imshow(np.clip(pixels, 0, 1))
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    return fig
