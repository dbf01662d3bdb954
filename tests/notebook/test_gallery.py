"""Tests for pconv.notebook.gallery: tagged figures out of executed notebooks, shrunk PNGs, the 3 MB cap.

Small notebooks are built here; one runs in a real kernel through `build_gallery`.
The committed gallery is checked too: under its cap, one PNG per `gallery:` tag in notebooks/.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

from pconv.notebook import gallery
from pconv.notebook.gallery import (
    MAX_TOTAL_BYTES,
    SCREENSHOTS,
    GalleryError,
    build_gallery,
    check_size,
    save_png,
    shrink_png,
    tagged_figures,
)
from pconv.notebook.runner import NotebookError

REPO = Path(__file__).resolve().parents[2]


def _png(width: int, height: int, colour=(200, 30, 30), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), colour).save(out, "PNG")
    return out.getvalue()


def _image_output(png: bytes) -> dict:
    return nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(png).decode()})


def _executed(cells: list[tuple[list[str], list[dict]]]) -> dict:
    """An executed notebook as nbformat has it: one code cell per (tags, outputs)."""
    nb = nbformat.v4.new_notebook()
    for tags, outputs in cells:
        cell = nbformat.v4.new_code_cell("pass")
        cell.metadata["tags"] = tags
        cell.outputs = outputs
        nb.cells.append(cell)
    return nb


# ---------------------------------------------------------------- tagged_figures


def test_tagged_figures_takes_the_first_png_of_each_tagged_cell_only():
    first, last, other = _png(4, 4, (1, 2, 3)), _png(5, 5, (4, 5, 6)), _png(6, 6)
    text = nbformat.v4.new_output("stream", text="hello")
    nb = _executed(
        [
            (["gallery:curves", "parameters"], [text, _image_output(first), _image_output(last)]),
            ([], [_image_output(other)]),  # untagged: left out
            (["gallery:grid"], [_image_output(other)]),
        ]
    )
    found = tagged_figures(nb, "probe.ipynb")
    assert found == {"curves": first, "grid": other}
    as_json = json.loads(nbformat.writes(nb))  # the plain dict of a file on disk reads the same
    assert tagged_figures(as_json) == found


@pytest.mark.parametrize(
    "cells, message",
    [
        ([(["gallery:curves"], [nbformat.v4.new_output("stream", text="no figure")])], "shows no figure"),
        ([(["gallery:a b"], [])], "letters, digits"),
        ([(["gallery:"], [])], "letters, digits"),
        ([(["gallery:x"], [_image_output(_png(2, 2))]), (["gallery:x"], [_image_output(_png(2, 2))])], "already"),
    ],
    ids=["no-figure", "space-in-name", "empty-name", "duplicate"],
)
def test_tagged_figures_names_the_notebook_and_cell_of_a_bad_tag(cells, message):
    with pytest.raises(GalleryError, match=message) as err:
        tagged_figures(_executed(cells), "probe.ipynb")
    assert "probe.ipynb, cell " in str(err.value)


# ---------------------------------------------------------------- shrink_png, save_png


def test_shrink_png_downscales_keeps_the_aspect_and_uses_a_palette():
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 256, (300, 1600, 3), dtype=np.uint8))
    small = Image.open(io.BytesIO(shrink_png(noise, max_width=400)))
    assert small.size == (400, 75) and small.mode == "P"
    narrow = Image.open(io.BytesIO(shrink_png(_png(120, 80), max_width=400)))
    assert narrow.size == (120, 80)  # never enlarged


def test_shrink_png_keeps_colours_and_flattens_transparency_onto_white():
    # left half opaque blue, right half fully transparent: the page's white must show there
    rgba = np.zeros((40, 80, 4), dtype=np.uint8)
    rgba[:, :40] = (20, 60, 220, 255)
    rgba[:, 40:] = (255, 0, 0, 0)
    out = np.asarray(Image.open(io.BytesIO(shrink_png(Image.fromarray(rgba, "RGBA")))).convert("RGB")).astype(int)
    assert np.abs(out[:, :40] - (20, 60, 220)).max() <= 2
    assert np.abs(out[:, 40:] - 255).max() <= 2
    # a real photo-like gradient survives the 256-colour palette within a few levels
    ramp = np.linspace(0, 255, 256)
    photo = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], 255 - ramp[None, :]), -1).astype(np.uint8)
    back = np.asarray(Image.open(io.BytesIO(shrink_png(Image.fromarray(photo)))).convert("RGB")).astype(int)
    assert np.abs(back - photo.astype(int)).mean() < 6


def test_shrink_png_refuses_a_non_positive_width():
    with pytest.raises(ValueError, match="max_width"):
        shrink_png(_png(4, 4), max_width=0)


def test_save_png_makes_the_folder_and_writes_a_smaller_file(tmp_path):
    rng = np.random.default_rng(1)
    big = Image.fromarray(rng.integers(0, 256, (600, 2000, 3), dtype=np.uint8))
    raw = io.BytesIO()
    big.save(raw, "PNG")
    path = save_png(raw.getvalue(), tmp_path / "deep" / "fig.png", max_width=500)
    assert path.is_file() and Image.open(path).width == 500
    assert path.stat().st_size < len(raw.getvalue()) / 4


# ---------------------------------------------------------------- check_size


def test_check_size_totals_the_pngs_and_refuses_a_gallery_over_its_cap(tmp_path):
    (tmp_path / "a.png").write_bytes(b"x" * 600)
    (tmp_path / "b.png").write_bytes(b"x" * 500)
    (tmp_path / "notes.txt").write_bytes(b"x" * 10_000)  # not a PNG: not counted
    assert check_size(tmp_path, limit=1100) == 1100
    with pytest.raises(GalleryError, match=r"over its cap.*a\.png 1 kB, b\.png") as err:
        check_size(tmp_path, limit=1099)
    assert str(tmp_path) in str(err.value)


def test_check_size_names_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="make gallery"):
        check_size(tmp_path / "nowhere")


def test_the_committed_gallery_is_under_3_mb_and_has_one_png_per_tag():
    folder = REPO / "docs" / "gallery"
    assert check_size(folder) <= MAX_TOTAL_BYTES == 3_000_000
    tags = {
        t.removeprefix("gallery:")
        for path in (REPO / "notebooks").glob("*.ipynb")
        for cell in json.loads(path.read_text())["cells"]
        for t in cell.get("metadata", {}).get("tags", [])
        if t.startswith("gallery:")
    }
    assert tags, "no notebook cell is tagged gallery:NAME"
    assert {p.stem for p in folder.glob("*.png")} == tags | set(SCREENSHOTS)
    for path in folder.glob("*.png"):
        assert Image.open(path).width <= gallery.MAX_WIDTH, path.name


# ---------------------------------------------------------------- build_gallery, in a real kernel


@pytest.fixture
def figure_notebooks(tmp_path):
    """A folder with one notebook: a tagged red figure, an untagged blue one, a cell that writes a file."""
    folder = tmp_path / "nbs"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    draw = (
        "%config InlineBackend.print_figure_kwargs = {{'bbox_inches': None}}\n"  # the figure's own size
        "import os, pathlib\nimport matplotlib.pyplot as plt\n"
        "fig = plt.figure(figsize=({w}, 2), dpi=100)\nfig.patch.set_facecolor({colour!r})\n"
        "fig.add_axes((0, 0, 1, 1)).set_axis_off()\nplt.show()"  # IPython shows no figure without axes
    )
    red = nbformat.v4.new_code_cell(draw.format(w=16, colour="red"))  # 1600 px wide
    red.metadata["tags"] = ["gallery:red_figure"]
    nb.cells = [
        nbformat.v4.new_code_cell("import os\nSMOKE = os.environ.get('PCONV_SMOKE') == '1'"),
        red,
        nbformat.v4.new_code_cell(draw.format(w=3, colour="blue")),
        nbformat.v4.new_code_cell("pathlib.Path(os.environ['PCONV_OUTPUT_DIR'], 'seen.txt').write_text(f'{SMOKE}')"),
    ]
    nbformat.write(nb, folder / "probe.ipynb")
    return folder


def test_build_gallery_runs_the_notebook_and_writes_its_tagged_figure(figure_notebooks, tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")  # a user's non-inline backend: the gallery still gets figures
    out, work = tmp_path / "gallery", tmp_path / "work"
    done = build_gallery(out, work, notebooks=["probe"], notebook_dir=figure_notebooks, smoke=True, max_width=300)
    assert [d.notebook for d in done] == ["probe"] and done[0].seconds > 0
    assert done[0].files == [out.resolve() / "red_figure.png"]
    assert sorted(p.name for p in out.iterdir()) == ["red_figure.png"]  # the blue one is not tagged
    img = Image.open(out / "red_figure.png").convert("RGB")
    assert img.size == (300, 38)  # 1600x200 at most 300 wide
    assert img.getpixel((150, 19)) == (255, 0, 0)
    assert (work / "seen.txt").read_text() == "True"  # the shared output folder, in smoke mode
    assert (work / "executed" / "probe.ipynb").is_file()

    (work / "old_run.txt").touch()  # a full run starts the work folder afresh; `fresh=False` keeps it
    build_gallery(out, work, notebooks=["probe"], notebook_dir=figure_notebooks, fresh=False)
    assert (work / "old_run.txt").exists() and (work / "seen.txt").read_text() == "False"
    build_gallery(out, work, notebooks=["probe"], notebook_dir=figure_notebooks)
    assert not (work / "old_run.txt").exists()


def test_build_gallery_refuses_a_foreign_work_folder_and_smoke_into_docs(figure_notebooks, tmp_path):
    work = tmp_path / "mine"
    work.mkdir()
    (work / "precious.txt").touch()
    with pytest.raises(GalleryError, match="not made by the gallery"):
        build_gallery(tmp_path / "g", work, notebooks=["probe"], notebook_dir=figure_notebooks)
    assert (work / "precious.txt").exists()
    docs = REPO / "docs" / "gallery"
    with pytest.raises(GalleryError, match="smoke figures never go into"):
        build_gallery(docs, tmp_path / "w", notebooks=["probe"], notebook_dir=figure_notebooks, smoke=True)
    with pytest.raises(FileNotFoundError, match="no_such.ipynb"):
        build_gallery(tmp_path / "g", tmp_path / "w", notebooks=["no_such"], notebook_dir=figure_notebooks)


def test_build_gallery_stops_at_a_failing_notebook(tmp_path):
    folder = tmp_path / "nbs"
    folder.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("raise RuntimeError('boom')")]
    nbformat.write(nb, folder / "bad.ipynb")
    with pytest.raises(NotebookError, match="bad.ipynb failed"):
        build_gallery(tmp_path / "g", tmp_path / "w", notebooks=["bad"], notebook_dir=folder)


# ---------------------------------------------------------------- the command line


def test_main_check_and_its_errors(tmp_path, capsys):
    (tmp_path / "a.png").write_bytes(b"x" * 100)
    assert gallery.main(["--check", str(tmp_path)]) == 0
    assert "0.00 MB of PNGs" in capsys.readouterr().out
    (tmp_path / "big.png").write_bytes(b"x" * (MAX_TOTAL_BYTES + 1))
    assert gallery.main(["--check", str(tmp_path)]) == 1
    assert "over its cap" in capsys.readouterr().err
    assert gallery.main(["--only", "09_nothing", "--out", str(tmp_path / "g"), "--work", str(tmp_path / "w")]) == 1
    assert "09_nothing: not a gallery notebook" in capsys.readouterr().err


def test_main_smoke_defaults_to_a_temporary_folder(figure_notebooks, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PCONV_SMOKE", "1")
    monkeypatch.setattr(gallery, "GALLERY_NOTEBOOKS", ("probe",))
    monkeypatch.setattr(gallery.tempfile, "tempdir", str(tmp_path))  # mkdtemp lands under tmp_path
    assert gallery.main(["--notebook-dir", str(figure_notebooks), "--quiet"]) == 0
    written = list(tmp_path.glob("pconv-gallery-smoke-*/gallery/red_figure.png"))
    assert len(written) == 1, capsys.readouterr()
    assert (written[0].parents[1] / "work" / "seen.txt").read_text() == "True"
