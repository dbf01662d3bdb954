"""pconv.notebook.studio headless: strokes, undo, images of every kind, runs, the widgets, the saved folder."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import threading
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pconv.data import ImageLoadError
from pconv.evaluation import available_baselines
from pconv.nn import PConvUNet
from pconv.notebook import InpaintStudio, comparison_figure, inpaint_studio
from pconv.notebook.studio_image import stroke_region
from pconv.notebook.studio_ui import BackgroundRunner

FAST = [n for n in ("harmonic", "telea", "mean_fill") if n in available_baselines()]


def _tiny() -> PConvUNet:
    torch.manual_seed(0)
    return PConvUNet(layers=3, base_channels=8)


@pytest.fixture
def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (45, 67, 3), dtype=np.uint8)  # odd sizes on purpose


@pytest.fixture
def studio(photo) -> InpaintStudio:
    return InpaintStudio(photo, models={"tiny": _tiny()})


def _mouse(studio, event: str, x: float, y: float) -> None:
    """What the browser sends: an ipycanvas event in canvas pixels, to the layer that takes the mouse."""
    studio.canvas[-1]._handle_frontend_event(None, {"event": event, "x": x, "y": y}, [])


def _png(array: np.ndarray, mode: str | None = None, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, fmt)
    return buf.getvalue()


def _upload(studio, content: bytes, name: str) -> None:
    studio.controls["upload"].value = (
        {
            "name": name,
            "type": "image/png",
            "size": len(content),
            "content": memoryview(content),
            "last_modified": datetime.now(),
        },
    )


# ---------------------------------------------------------------- the mask


def test_a_new_studio_has_no_hole_and_a_valid_mask(studio, photo):
    assert studio.mask.shape == (1, 45, 67) and studio.mask.dtype == torch.float32
    assert bool((studio.mask == 1).all()) and studio.hole_ratio == 0.0
    assert torch.equal(studio.image, torch.from_numpy(photo).permute(2, 0, 1) / 255.0)
    assert studio.note == "a ndarray, 67x45"


def test_paint_makes_exactly_the_stroke_a_hole_and_erase_gives_it_back(studio):
    studio.paint([(10, 10), (50, 30)], radius=4)
    want = stroke_region((45, 67), [(10, 10), (50, 30)], 4)
    assert torch.equal(studio.mask[0] == 0, torch.from_numpy(want))
    assert studio.hole_ratio == pytest.approx(want.mean())
    studio.erase([(30, 20)], radius=3)
    want &= ~stroke_region((45, 67), [(30, 20)], 3)
    assert torch.equal(studio.mask[0] == 0, torch.from_numpy(want))
    assert "hole: <b>" in studio._view.ratio.value


def test_undo_steps_back_through_every_change(studio):
    masks = [studio.mask]
    studio.paint([(5, 5)], 3)
    masks.append(studio.mask)
    studio.paint([(20, 20), (40, 25)], 5)
    masks.append(studio.mask)
    studio.erase([(20, 20)], 6)
    masks.append(studio.mask)
    studio.clear()
    studio.paint([(1, 1)], radius=1)
    studio.paint([(1, 1)], radius=1)  # changes nothing: no undo step
    assert studio.undo()
    assert bool((studio.mask == 1).all())  # the clear
    for want in reversed(masks):
        assert studio.undo() and torch.equal(studio.mask, want)
    assert not studio.undo()


def test_a_mouse_stroke_paints_through_the_python_api_and_is_one_undo_step(studio):
    _mouse(studio, "mouse_down", 10.5, 10.5)  # canvas pixel 10 spans [10, 11): its centre is image pixel 10
    for x in (20.5, 30.5, 40.5):
        _mouse(studio, "mouse_move", x, 10.5)
    _mouse(studio, "mouse_up", 40.5, 10.5)
    _mouse(studio, "mouse_move", 60.5, 40.5)  # after the release: no painting
    r = studio.controls["brush"].value
    want = stroke_region((45, 67), [(10, 10), (20, 10), (30, 10), (40, 10)], r)
    assert torch.equal(studio.mask[0] == 0, torch.from_numpy(want))
    studio.controls["mode"].value = "erase"
    _mouse(studio, "mouse_down", 20.5, 10.5)
    _mouse(studio, "mouse_out", 25.5, 10.5)  # leaving the canvas ends the stroke
    assert not bool((studio.mask[0, 10, 20:26] == 0).any())
    assert studio.undo() and torch.equal(studio.mask[0] == 0, torch.from_numpy(want))
    assert studio.undo() and bool((studio.mask == 1).all())


def test_random_mask_lands_in_its_range_and_repeats_with_its_seed(studio):
    studio.random_mask((0.2, 0.3), seed=3)
    first = studio.mask
    assert 0.2 <= studio.hole_ratio <= 0.3
    studio.random_mask((0.2, 0.3), seed=3)
    assert torch.equal(studio.mask, first)
    with pytest.raises(ValueError, match="hole_range"):
        studio.random_mask((0.5, 0.1))
    studio.controls["random"].click()
    assert studio.hole_ratio > 0 and studio.undo() and torch.equal(studio.mask, first)


# ---------------------------------------------------------------- images


def test_images_of_every_kind(studio, tmp_path):
    grey = np.arange(20 * 30, dtype=np.uint8).reshape(20, 30)
    studio.set_image(grey)
    assert studio.image.shape == (3, 20, 30) and torch.equal(studio.image[0], studio.image[2])
    studio.set_image(torch.rand(3, 9, 11))
    assert studio.mask.shape == (1, 9, 11)
    studio.set_image(Image.new("RGB", (13, 7), (255, 0, 0)))
    assert studio.image[:, 0, 0].tolist() == [1.0, 0.0, 0.0]
    path = tmp_path / "mine.png"
    Image.new("RGB", (16, 12), (0, 0, 255)).save(path)
    studio.set_image(str(path))
    assert studio.note == "mine.png, 16x12" and studio.controls["sample"].value == ""
    with pytest.raises(ImageLoadError, match="missing.png: no such file"):
        studio.set_image(tmp_path / "missing.png")
    assert studio.note == "mine.png, 16x12"  # kept


def test_a_new_image_starts_afresh(studio):
    studio.paint([(10, 10)], 5)
    studio.run(FAST[:1])
    studio.set_image(np.zeros((10, 12, 3), np.uint8))
    assert studio.hole_ratio == 0 and not studio.undo() and studio.results == {}
    assert studio.canvas.width == 12 and studio.canvas.height == 10


def test_the_sample_dropdown_opens_sample_photos():
    studio = InpaintStudio(size=64)
    assert studio.controls["sample"].value == "chelsea" and studio.note.startswith("sample photo 'chelsea', 64x")
    studio.controls["sample"].value = "astronaut"
    assert studio.image.shape == (3, 64, 64) and "resized from 512x512" in studio.note
    with pytest.raises(ValueError, match="no sample photo 'nope'; choose one of astronaut"):
        studio.show_sample("nope")


def test_uploads_rgba_grey_huge_and_bad(studio):
    rgba = np.zeros((8, 10, 4), np.uint8)
    rgba[..., 0], rgba[:, :5, 3] = 255, 255  # red, the right half transparent
    _upload(studio, _png(rgba, "RGBA"), "logo.png")
    assert studio.note == "logo.png, 10x8" and studio.controls["upload"].value == ()
    assert studio.image[:, 0, 0].tolist() == [1, 0, 0] and studio.image[:, 0, 9].tolist() == [1, 1, 1]  # over white

    _upload(studio, _png(np.full((6, 7), 77, np.uint8), "L"), "scan.png")
    assert studio.image.shape == (3, 6, 7) and bool((studio.image == 77 / 255).all())

    huge = np.zeros((2400, 3600, 3), np.uint8)
    huge[:, :1800] = 200
    _upload(studio, _png(huge, fmt="JPEG"), "phone.jpg")
    assert studio.image.shape == (3, 341, 512)
    assert (
        studio.note == "phone.jpg, 512x341 (resized from 3600x2400: the studio works at most 512 px on the long side)"
    )
    assert studio._view.note.value.startswith("phone.jpg, 512x341")

    before = studio.image
    _upload(studio, b"\x89PNG\r\n\x1a\n but then nothing", "broken.png")
    assert (
        "cannot load image broken.png" in studio._view.note.value
        and "the current image is kept" in studio._view.note.value
    )
    assert torch.equal(studio.image, before) and studio.controls["upload"].value == ()


def test_an_exif_rotated_upload_is_upright(studio):
    im = Image.new("RGB", (40, 20), (0, 128, 0))
    exif = im.getexif()
    exif[0x0112] = 8  # stored rotated: 90 degrees counter-clockwise to view
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif)
    _upload(studio, buf.getvalue(), "portrait.jpg")
    assert studio.image.shape == (3, 40, 20)


# ---------------------------------------------------------------- running the methods


def test_run_keeps_known_pixels_exactly_at_odd_sizes(studio):
    studio.paint([(5, 5), (60, 40)], radius=6)
    studio.paint([(66, 0)], radius=3)  # touches the border
    results = studio.run(["tiny", *FAST])
    image, valid = studio.image, studio.mask.bool().expand(3, -1, -1)
    assert list(results) == ["tiny", *FAST]
    for name, out in results.items():
        assert out.shape == (3, 45, 67) and out.dtype == torch.float32, name
        assert torch.equal(out[valid], image[valid]), name
        assert 0 <= out.min() and out.max() <= 1, name
        assert not torch.equal(out, image), name  # the holes were filled with something else
    assert torch.equal(results["tiny"], studio.method("tiny").get().inpaint(image, studio.mask))
    assert set(studio.times) == set(results) and studio.errors == {}


def test_without_a_hole_every_method_returns_the_photo(studio):
    assert all(torch.equal(out, studio.image) for out in studio.run(["tiny", "harmonic"]).values())
    assert "no hole yet" in studio.status.value


def test_unchanged_inputs_are_not_recomputed(photo):
    calls = []

    def net(image, mask):
        calls.append(1)
        return torch.zeros_like(image)

    studio = InpaintStudio(photo, models={"net": net})
    studio.paint([(10, 10)], 5)
    studio.run(["net"])
    studio.run(["net"])
    assert len(calls) == 1
    studio.paint([(30, 30)], 5)
    studio.run(["net"])
    assert len(calls) == 2
    studio.undo()
    studio.run(["net"])  # the mask of the first run again
    assert len(calls) == 2 and "cached" in studio._view.tile("net")[1].value


def test_a_failing_method_shows_its_error_and_the_others_still_run(photo):
    def broken(image, mask):
        raise RuntimeError("out of memory, pretend")

    studio = InpaintStudio(photo, models={"broken": broken})
    studio.paint([(10, 10)], 5)
    studio.selected = ["broken", "mean_fill"]
    with pytest.warns(RuntimeWarning, match="broken failed: RuntimeError: out of memory, pretend"):
        results = studio.run()
    assert list(results) == ["mean_fill"] and studio.errors == {"broken": "RuntimeError: out of memory, pretend"}
    _box, label, image, error = studio._view.tile("broken")
    assert "failed" in label.value and "out of memory, pretend" in error.value and image.layout.display == "none"
    assert studio._view.tile("mean_fill")[2].value  # its picture is there
    assert "1 failed: broken" in studio.status.value


def test_a_run_that_fails_as_a_whole_says_so_escaped_in_the_status_line(studio, monkeypatch):
    def crash(methods):
        raise RuntimeError("<b>no</b> memory & more")

    monkeypatch.setattr(studio, "_run", crash)
    studio.controls["inpaint"].click()
    assert studio.wait(60)
    assert "the run failed: RuntimeError: &lt;b&gt;no&lt;/b&gt; memory &amp; more" in studio.status.value
    assert "<b>no</b>" not in studio.status.value


def test_a_corrupt_checkpoint_fails_in_its_tile_only(photo):
    from pconv.utils import output_dir

    run = output_dir() / "runs" / "crashed"
    run.mkdir(parents=True)
    (run / "best.pt").write_bytes(b"half a checkpoint")
    studio = InpaintStudio(photo)
    assert "crashed/best" in studio.methods and "crashed/best" not in studio.selected  # listed, not ticked
    studio.selected = ["crashed/best", *studio.selected]
    studio.paint([(10, 10)], 5)
    with pytest.warns(RuntimeWarning, match="crashed/best failed: CheckpointError"):
        results = studio.run()
    assert "crashed/best" not in results and set(results) == set(studio.selected) - {"crashed/best"}
    assert "corrupt or truncated" in studio._view.tile("crashed/best")[3].value


def test_unknown_methods_are_named(studio):
    with pytest.raises(ValueError, match="unknown method 'nope'; the studio offers: tiny, "):
        studio.run(["nope"])
    with pytest.raises(ValueError, match="unknown method"):
        studio.selected = ["nope"]


def test_inpaint_button_runs_in_the_background_and_fills_one_tile_per_method(studio):
    studio.paint([(20, 20), (40, 30)], 5)
    studio.selected = ["tiny", "mean_fill"]
    studio.controls["inpaint"].click()
    assert studio.wait(120)
    tiles = studio.tiles.children
    assert len(tiles) == 2 and set(studio.results) == {"tiny", "mean_fill"}
    labels = [t.children[0].value for t in tiles]
    assert labels[0].startswith("<b>tiny</b> · ") and labels[0].count(" s") >= 1
    assert all(t.children[1].value[:2] == b"\xff\xd8" for t in tiles)  # JPEG previews
    studio.controls["view"].value = "raw output"  # rerun: the network's prediction everywhere
    assert studio.wait(120)
    assert "raw output" in studio.tiles.children[0].children[0].value
    raw = studio.raw_output("tiny")
    assert raw.shape == (3, 45, 67) and not torch.equal(raw, studio.results["tiny"])


def test_the_composite_and_the_raw_view_share_one_forward_pass(photo):
    net, calls = _tiny(), []
    net.register_forward_hook(lambda *args: calls.append(1))
    studio = InpaintStudio(photo, models={"tiny": net})
    studio.selected = ["tiny"]
    studio.paint([(20, 20), (40, 30)], 5)
    composite = studio.run()["tiny"]
    raw = studio.raw_output("tiny")
    assert len(calls) == 1  # the raw view used to run the network a second time
    assert torch.equal(composite, net.inpaint(studio.image, studio.mask))
    assert not torch.equal(raw, composite)


def test_live_mode_reruns_after_each_stroke(studio):
    studio.selected = ["mean_fill"]
    studio.controls["live"].value = True
    studio.wait(60)
    _mouse(studio, "mouse_down", 10.5, 10.5)
    _mouse(studio, "mouse_up", 20.5, 15.5)
    assert studio.wait(60)
    valid = studio.mask.bool().expand(3, -1, -1)
    assert list(studio.results) == ["mean_fill"] and studio.hole_ratio > 0
    out = studio.results["mean_fill"]
    assert torch.equal(out[valid], studio.image[valid]) and not torch.equal(out, studio.image)


def test_requests_during_a_run_coalesce_into_one_more_run():
    started, release, runs = threading.Event(), threading.Event(), []

    def work():
        runs.append(1)
        started.set()
        release.wait(10)

    runner = BackgroundRunner(work, on_error=lambda e: None)
    runner.request()
    assert started.wait(10)
    for _ in range(5):
        runner.request()
    release.set()
    assert runner.wait(10) and len(runs) == 2
    for _ in range(5):
        runner.request(delay=0.2)  # debounced: one run after the last request
    assert runner.wait(10) and len(runs) == 3


# ---------------------------------------------------------------- saving and showing


def test_save_writes_the_photo_the_mask_and_each_result(studio, tmp_path):
    studio.paint([(10, 10), (30, 20)], 4)
    studio.selected = ["tiny", "mean_fill"]
    folder = studio.save(tmp_path / "session")
    assert sorted(p.name for p in folder.iterdir()) == [
        "image.png",
        "mask.png",
        "mean_fill.png",
        "studio.json",
        "tiny.png",
    ]
    assert np.array_equal(
        np.asarray(Image.open(folder / "image.png")), (studio.image.permute(1, 2, 0) * 255).round().byte().numpy()
    )
    assert np.array_equal(np.asarray(Image.open(folder / "mask.png")) == 255, studio.mask[0].bool().numpy())
    saved = np.asarray(Image.open(folder / "tiny.png"))
    assert np.array_equal(saved, (studio.results["tiny"].permute(1, 2, 0) * 255).round().byte().numpy())
    info = json.loads((folder / "studio.json").read_text())
    assert info["methods"]["tiny"]["file"] == "tiny.png" and info["hole_ratio"] == pytest.approx(studio.hole_ratio)
    assert studio.save(tmp_path / "session").name == "session-2"  # never overwrites
    assert studio.save().parent.name == "studio"  # default: $PCONV_OUTPUT_DIR/studio/<date-time>


def test_the_comparison_figure_has_the_input_and_one_panel_per_method(studio):
    studio.paint([(10, 10)], 5)
    fig = comparison_figure(studio.image, studio.mask, studio.run(FAST), studio.times)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 1 + len(FAST) and titles[0].startswith("input, ") and titles[1].startswith(FAST[0])


class _Shell:
    """Just enough of an IPython kernel shell: a kernel, and the number of the cell that runs."""

    def __init__(self):
        self.kernel, self.execution_count = object(), 7


def test_inpaint_studio_shows_itself_once_in_a_notebook_cell(monkeypatch, photo):
    import IPython
    import IPython.display

    shown, shell = [], _Shell()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj._repr_mimebundle_()))
    studio = inpaint_studio(photo, size=32)
    assert len(shown) == 1 and "application/vnd.jupyter.widget-view+json" in shown[0]
    assert studio._repr_mimebundle_() == {}  # `studio` as the cell's last line: not a second copy
    shell.execution_count = 8
    assert "application/vnd.jupyter.widget-view+json" in studio._repr_mimebundle_()  # a later cell shows it


def test_outside_a_notebook_nothing_is_displayed(photo):
    studio = inpaint_studio(photo, size=32)
    assert studio.image.shape == (3, 21, 32)  # 45 * 32 / 67 = 21.5, rounded to even
    with pytest.raises(ValueError, match="size must be a positive int"):
        inpaint_studio(photo, size=0)


def test_the_latency_benchmark_runs_end_to_end():
    bench = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_studio.py"
    args = ["--size", "64", "--layers", "3", "--base-channels", "8", "--strokes", "2", "--threads", "1"]
    done = subprocess.run([sys.executable, str(bench), *args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "release -> tile: median" in done.stdout and "stroke 2:" in done.stdout


# ---------------------------------------------------------------- nothing lost (issue 23)


def _diverged(value: float):
    return lambda image, mask: torch.full_like(image, value)  # a forward f(image, mask) whose weights went NaN


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_fill_is_an_error_tile_not_a_result(photo, value):
    studio = InpaintStudio(photo, models={"tiny": _tiny(), "broken": _diverged(value)})
    studio.paint([(10, 10), (30, 20)], 4)
    with pytest.warns(RuntimeWarning, match="broken failed: .*non-finite"):
        results = studio.run(["tiny", "broken", "mean_fill"])
    assert set(results) == {"tiny", "mean_fill"} and set(studio.errors) == {"broken"}
    assert "broken" not in studio.times and all(torch.isfinite(r).all() for r in results.values())
    with pytest.warns(RuntimeWarning, match="broken failed"):
        assert "broken" not in studio.run(["broken"])  # not cached as a result either


def test_save_after_a_nan_method_writes_everything_else_and_names_it(photo, tmp_path):
    studio = InpaintStudio(photo, models={"tiny": _tiny(), "broken": _diverged(float("nan"))})
    studio.paint([(10, 10), (30, 20)], 4)
    studio.selected = ["tiny", "broken", "mean_fill"]
    with pytest.warns(RuntimeWarning, match="without broken: ValueError: .*non-finite"):
        folder = studio.save(tmp_path / "session")
    assert sorted(p.name for p in folder.iterdir()) == [
        "image.png",
        "mask.png",
        "mean_fill.png",
        "studio.json",
        "tiny.png",
    ]
    info = json.loads((folder / "studio.json").read_text())
    assert set(info["methods"]) == {"tiny", "mean_fill"} and "non-finite" in info["errors"]["broken"]


def test_write_folder_keeps_the_results_it_can_write(tmp_path):
    from pconv.notebook.studio_report import write_folder

    rgb, hole = np.zeros((4, 5, 3), np.uint8), np.zeros((4, 5), bool)
    good, nan = torch.rand(3, 4, 5), torch.full((3, 4, 5), float("nan"))
    with pytest.warns(UserWarning, match="without 2 result"):
        folder = write_folder(tmp_path / "s", rgb, hole, {"a": good, "nan": nan, "shape": torch.rand(5, 4, 5)}, {}, {})
    info = json.loads((folder / "studio.json").read_text())
    assert set(info["methods"]) == {"a"} and set(info["not_saved"]) == {"nan", "shape"}
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "image.png", "mask.png", "studio.json"]


@pytest.mark.parametrize("fail_at", [1, 3, 4])  # image.png, a result, studio.json
def test_save_on_a_full_disk_leaves_nothing_half_written(studio, tmp_path, monkeypatch, fail_at):
    import errno

    from pconv.utils import WriteFailedError

    studio.paint([(10, 10)], 5)
    studio.selected = ["tiny", "mean_fill"]
    first = studio.save(tmp_path / "session")
    before = {p.name: p.read_bytes() for p in first.iterdir()}
    calls, save, write_text = [], Image.Image.save, Path.write_text

    def full(*args, **kwargs):
        calls.append(1)
        if len(calls) == fail_at:
            raise OSError(errno.ENOSPC, "No space left on device")

    def save_file(im, fp, *args, **kwargs):  # the previews of the tiles are encoded into memory: not a file
        return (isinstance(fp, (str, Path)) and full()) or save(im, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", save_file)
    monkeypatch.setattr(Path, "write_text", lambda *a, **k: full() or write_text(*a, **k))
    with pytest.raises(WriteFailedError, match="session-2.*(disk|quota) .*full"):
        studio.save(tmp_path / "session")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session"]  # no session-2, no hidden partial folder
    assert {p.name: p.read_bytes() for p in first.iterdir()} == before


@pytest.mark.parametrize("radius", [float("inf"), float("nan"), -3, 0])
def test_paint_refuses_an_impossible_radius_and_keeps_the_mask(studio, radius):
    studio.paint([(10, 10)], 3)
    mask = studio.mask
    for brush in (studio.paint, studio.erase):
        with pytest.raises(ValueError, match="radius must be a finite positive number"):
            brush([(5, 5)], radius)
    assert torch.equal(studio.mask, mask)
    studio.paint([(5, 5)], 1e6)  # huge but finite: the whole image
    assert studio.hole_ratio == 1.0


@pytest.mark.parametrize(
    "given, expected",
    [("rel", "rel"), ("./rel", "rel"), ("a/../rel", "rel"), ("~/rel", "home/rel"), ("ünï/r", "ünï/r")],
)
def test_save_resolves_the_folder_once(studio, tmp_path, monkeypatch, given, expected):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    folder = studio.save(given)
    assert folder.is_absolute() and folder.resolve() == tmp_path / expected
    assert (folder / "studio.json").is_file() and not (tmp_path / "~").exists()
