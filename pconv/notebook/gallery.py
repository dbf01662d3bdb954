"""The gallery: run the notebooks headless and keep their telling figures as small PNGs (docs/gallery/).

    python -m pconv.notebook.gallery [--out DIR] [--work DIR] [--smoke] [--only NAME ...] [--timeout S]
    python -m pconv.notebook.gallery --check DIR

The notebooks are committed without outputs, so a reader of the repository page would
otherwise see none of their figures. `make gallery` runs 00, 02, 03, 04, 05, 06 and 07 in
that order with their defaults (04 and 06 use the runs that 00 and 03 train: every notebook
shares one output folder, `--work`, default `outputs/gallery/`), then takes from each
executed copy the figure of every cell tagged `gallery:NAME` (the cell's first PNG output)
and writes it as `NAME.png`, downscaled to at most `MAX_WIDTH` pixels and reduced to a
256-colour palette. The folder's PNGs together must stay under `MAX_TOTAL_BYTES` (3 MB):
`--check` enforces that, and a run ends with it.

Smoke mode (`--smoke` or `PCONV_SMOKE=1`) writes into a temporary folder unless `--out` says
otherwise, and never into the repository's docs/gallery/.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from PIL import Image

from pconv.notebook.runner import NotebookError, run_notebook
from pconv.utils import output_dir, repo_root

__all__ = [
    "GALLERY_NOTEBOOKS",
    "MAX_TOTAL_BYTES",
    "MAX_WIDTH",
    "SCREENSHOTS",
    "TAG_PREFIX",
    "GalleryError",
    "NotebookFigures",
    "build_gallery",
    "check_size",
    "main",
    "save_png",
    "shrink_png",
    "tagged_figures",
]

GALLERY_NOTEBOOKS = (  # run order: 04 and 06 use the runs that 00 and 03 train
    "00_quickstart",
    "02_irregular_masks",
    "03_train_inpainting",
    "04_evaluate",
    "05_unet_segmentation",
    "06_inpaint_your_photo",
    "07_ablations",
)
TAG_PREFIX = "gallery:"  # a cell tagged `gallery:NAME` gives NAME.png
MAX_WIDTH = 1000  # pixels: GitHub shows a README image at most about 880 px wide
MAX_TOTAL_BYTES = 3_000_000  # every PNG of the gallery folder together
MARKER = ".pconv-gallery-work"  # marks a work folder this module made, so it may clear it
SCREENSHOTS = ("06_studio",)  # gallery PNGs that no cell gives: tests/test_browser_gallery.py takes them in Chromium


class GalleryError(RuntimeError):
    """A tagged cell without a figure, a gallery over its size cap, or smoke figures aimed at docs/gallery."""


@dataclass
class NotebookFigures:
    """What one notebook gave: its name, the seconds its run took and the PNGs written."""

    notebook: str
    seconds: float
    files: list[Path] = field(default_factory=list)


def _names(cell: dict) -> list[str]:
    return [t[len(TAG_PREFIX) :] for t in cell.get("metadata", {}).get("tags", []) if t.startswith(TAG_PREFIX)]


def tagged_figures(nb: dict, notebook: str = "notebook") -> dict[str, bytes]:
    """The PNG of every cell tagged `gallery:NAME` in an executed notebook.

    Args:
        nb: the executed notebook (nbformat's node or the plain JSON dict).
        notebook: its name, for the messages.

    Returns:
        NAME -> PNG bytes: the first `image/png` output of the cell (a cell that draws one figure per
        case shows the first case; a live plot replaces its own output, so its final state is the one).

    Raises:
        GalleryError: a tagged cell has no PNG output, a NAME is not a plain file stem, or two cells share a NAME.
    """
    found: dict[str, bytes] = {}
    for index, cell in enumerate(nb["cells"]):
        for name in _names(cell):
            where = f"{notebook}, cell {index} (tag {TAG_PREFIX}{name})"
            if not name or not all(ch.isalnum() or ch in "-_" for ch in name):
                raise GalleryError(f"{where}: the name after {TAG_PREFIX!r} must be letters, digits, - or _")
            if name in found:
                raise GalleryError(f"{where}: another cell already gives {name}.png; give each cell its own name")
            pngs = [o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
            if not pngs:
                raise GalleryError(
                    f"{where}: the cell shows no figure (no image/png output); did it run, and does it draw one?"
                )
            data = pngs[0]
            found[name] = base64.b64decode("".join(data) if isinstance(data, list) else data)
    return found


def shrink_png(image: bytes | Image.Image, max_width: int = MAX_WIDTH) -> bytes:
    """A PNG for the gallery: at most `max_width` pixels wide (aspect kept), a 256-colour palette, optimised.

    Args:
        image: PNG (or any Pillow-readable) bytes, or a Pillow image.
        max_width: the widest the result may be, in pixels.

    Returns:
        The PNG bytes.
    """
    if max_width < 1:
        raise ValueError(f"max_width must be a positive number of pixels, got {max_width}")
    img = Image.open(io.BytesIO(image)) if isinstance(image, bytes) else image
    if img.mode in ("RGBA", "LA", "P"):  # matplotlib's transparency: flatten onto the page's white
        rgba = img.convert("RGBA")
        img = Image.new("RGB", rgba.size, "white")
        img.paste(rgba, mask=rgba.getchannel("A"))
    img = img.convert("RGB")
    if img.width > max_width:
        img = img.resize((max_width, max(1, round(img.height * max_width / img.width))), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    img.quantize(256, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
    return out.getvalue()


def save_png(image: bytes | Image.Image, path: str | os.PathLike, max_width: int = MAX_WIDTH) -> Path:
    """`shrink_png(image)` written to `path` (its folder made); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(shrink_png(image, max_width))
    return path


def check_size(folder: str | os.PathLike, limit: int = MAX_TOTAL_BYTES) -> int:
    """The total size of the PNGs in `folder`, in bytes.

    Raises:
        FileNotFoundError: `folder` does not exist.
        GalleryError: the total is over `limit`; the message lists the largest files.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no gallery folder at {folder}: run `make gallery` first")
    sizes = sorted(((p.stat().st_size, p.name) for p in folder.glob("*.png")), reverse=True)
    total = sum(s for s, _ in sizes)
    if total > limit:
        largest = ", ".join(f"{name} {size / 1e3:.0f} kB" for size, name in sizes[:5])
        raise GalleryError(
            f"the gallery {folder} holds {total / 1e6:.2f} MB of PNGs, over its cap of {limit / 1e6:.2f} MB "
            f"(largest: {largest}); lower MAX_WIDTH (--max-width) or tag fewer cells"
        )
    return total


def _prepare_work(work: Path, fresh: bool) -> None:
    """Make the shared work folder; a full run starts it afresh, but only when this module made it."""
    if fresh and work.exists() and any(work.iterdir()):
        if not (work / MARKER).exists():
            raise GalleryError(
                f"the work folder {work} exists and was not made by the gallery; "
                "pass an empty or new folder as --work (04 and 06 must see only the runs 00 and 03 train)"
            )
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / MARKER).touch()


def build_gallery(
    out: str | os.PathLike,
    work: str | os.PathLike,
    *,
    notebooks: Iterable[str] = GALLERY_NOTEBOOKS,
    notebook_dir: str | os.PathLike | None = None,
    smoke: bool = False,
    fresh: bool = True,
    timeout: int = 10800,
    max_width: int = MAX_WIDTH,
    echo: TextIO | None = None,
) -> list[NotebookFigures]:
    """Run `notebooks` in order, sharing one output folder, and write their tagged figures into `out`.

    Args:
        out: the gallery folder (`NAME.png` per tagged cell).
        work: the notebooks' shared `PCONV_OUTPUT_DIR` (runs, figures), with the executed copies in `work/executed`.
        notebooks: stems of the notebooks to run, in order.
        notebook_dir: where they are (default `<repo>/notebooks`).
        smoke: run them in smoke mode; refused when `out` is the repository's docs/gallery.
        fresh: clear `work` first (a folder this function made); False keeps earlier runs, to redo one notebook.
        timeout: seconds allowed per cell (07's training cell takes about 12 minutes on two idle cores).
        max_width: the widest a gallery PNG may be, in pixels.
        echo: where to say what runs (e.g. `sys.stderr`); None: silent.

    Returns:
        One `NotebookFigures` per notebook, in run order.

    Raises:
        FileNotFoundError: a notebook is missing.
        NotebookError: a cell failed (the executed copy is kept in `work/executed`).
        GalleryError: a tagged cell has no figure, or smoke figures aimed at docs/gallery.
    """
    out, work = Path(out).resolve(), Path(work).resolve()
    if smoke and out == (repo_root() / "docs" / "gallery").resolve():
        raise GalleryError(f"smoke figures never go into {out}: pass another --out (the default is a temporary folder)")
    folder = Path(notebook_dir) if notebook_dir is not None else repo_root() / "notebooks"
    paths = [folder / f"{stem}.ipynb" for stem in notebooks]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"notebook(s) not found: {', '.join(missing)}")
    import nbformat  # a test/notebook extra, as in the runner

    _prepare_work(work, fresh)
    out.mkdir(parents=True, exist_ok=True)
    # one output folder for all (04 and 06 find the runs of 00 and 03); figures inline whatever MPLBACKEND says
    env = {"PCONV_OUTPUT_DIR": str(work), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    done = []
    for path in paths:
        if echo is not None:
            print(f"gallery: running {path.name} ({'smoke' if smoke else 'defaults'})", file=echo, flush=True)
        start = time.perf_counter()
        executed = run_notebook(path, work / "executed", smoke=smoke, timeout=timeout, env=env, echo=echo)
        figures = tagged_figures(nbformat.read(executed, as_version=4), path.name)
        files = [save_png(png, out / f"{name}.png", max_width) for name, png in figures.items()]
        done.append(NotebookFigures(path.stem, time.perf_counter() - start, files))
        if echo is not None:
            print(f"gallery: {path.name} in {done[-1].seconds:.0f} s -> {', '.join(p.name for p in files)}", file=echo)
    return done


def _summary(done: list[NotebookFigures]) -> str:
    lines = []
    for d in done:
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e3:.0f} kB" for p in d.files) or "no tagged figure"
        lines.append(f"{d.notebook:24s} {d.seconds:6.0f} s  {sizes}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m pconv.notebook.gallery`: build the gallery, or `--check` its size.

    Args:
        argv: the command line after the program name; None for `sys.argv[1:]`.

    Returns:
        The exit status: 0 done, 1 a notebook failed, a figure is missing or the gallery is over its cap.
    """
    parser = argparse.ArgumentParser(prog="python -m pconv.notebook.gallery", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None, help="gallery folder (default docs/gallery; smoke: a temp)")
    parser.add_argument(
        "--work", type=Path, default=None, help="the notebooks' output folder (default outputs/gallery)"
    )
    parser.add_argument("--notebook-dir", type=Path, default=None, help="where the notebooks are (default notebooks/)")
    parser.add_argument("--smoke", action="store_true", default=os.environ.get("PCONV_SMOKE") == "1")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these notebooks, keeping earlier runs")
    parser.add_argument("--timeout", type=int, default=10800, help="seconds allowed per cell (default 10800)")
    parser.add_argument("--max-width", type=int, default=MAX_WIDTH, help=f"pixels (default {MAX_WIDTH})")
    parser.add_argument("--check", type=Path, metavar="DIR", help="only check that DIR's PNGs total at most 3 MB")
    parser.add_argument("--quiet", action="store_true", help="print only the summary")
    args = parser.parse_args(argv)
    try:
        if args.check is not None:
            total = check_size(args.check)
            print(f"{args.check}: {total / 1e6:.2f} MB of PNGs (cap {MAX_TOTAL_BYTES / 1e6:.0f} MB)")
            return 0
        only = [Path(n).stem for n in args.only] if args.only else None
        unknown = sorted(set(only or ()) - set(GALLERY_NOTEBOOKS))
        if unknown:
            raise GalleryError(
                f"--only {' '.join(unknown)}: not a gallery notebook; one of {', '.join(GALLERY_NOTEBOOKS)}"
            )
        # smoke figures go into a temporary folder, made only when --out or --work leaves one to fill
        needs_scratch = args.smoke and (args.out is None or args.work is None)
        scratch = Path(tempfile.mkdtemp(prefix="pconv-gallery-smoke-")) if needs_scratch else None
        out = args.out or (scratch / "gallery" if scratch else repo_root() / "docs" / "gallery")
        work = args.work or (scratch / "work" if scratch else output_dir() / "gallery")
        done = build_gallery(
            out,
            work,
            notebooks=only or GALLERY_NOTEBOOKS,
            notebook_dir=args.notebook_dir,
            smoke=args.smoke,
            fresh=only is None,
            timeout=args.timeout,
            max_width=args.max_width,
            echo=None if args.quiet else sys.stderr,
        )
        print(_summary(done))
        total = check_size(out)
        print(f"gallery: {out} ({total / 1e6:.2f} MB of PNGs); executed notebooks in {Path(work) / 'executed'}")
    except (GalleryError, NotebookError, FileNotFoundError, ValueError) as err:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
