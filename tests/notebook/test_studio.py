"""pconv.notebook.studio headless: strokes, undo, images of every kind, runs, the saved folder.

The widgets (mouse, uploads, buttons) are tests/notebook/test_studio_ui.py; the fixtures `photo`
and `studio` are tests/notebook/conftest.py's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pconv.data import ImageLoadError
from pconv.evaluation import available_baselines
from pconv.nn import PConvUNet
from pconv.notebook import InpaintStudio, inpaint_studio
from pconv.notebook.studio_image import stroke_region

FAST = [n for n in ("harmonic", "telea", "mean_fill") if n in available_baselines()]


def _tiny() -> PConvUNet:
    torch.manual_seed(0)
    return PConvUNet(layers=3, base_channels=8)


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
    label = studio._view.tile("net").label.value
    assert len(calls) == 2 and f"{studio.times['net']:.2f} s (cached)" in label  # its time, and where it came from


def test_a_failing_method_shows_its_error_and_the_others_still_run(photo):
    def broken(image, mask):
        raise RuntimeError("out of memory, pretend")

    studio = InpaintStudio(photo, models={"broken": broken})
    studio.paint([(10, 10)], 5)
    studio.selected = ["broken", "mean_fill"]
    with pytest.warns(RuntimeWarning, match="broken failed: RuntimeError: out of memory, pretend"):
        results = studio.run()
    assert list(results) == ["mean_fill"] and studio.errors == {"broken": "RuntimeError: out of memory, pretend"}
    tile = studio._view.tile("broken")
    assert "failed" in tile.label.value and "out of memory, pretend" in tile.error.value
    assert tile.image.layout.display == "none"
    assert studio._view.tile("mean_fill").image.value  # its picture is there
    assert "1 failed: broken" in studio.status.value


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
    assert "corrupt or truncated" in studio._view.tile("crashed/best").error.value


def test_unknown_methods_are_named(studio):
    with pytest.raises(ValueError, match="unknown method 'nope'; the studio offers: tiny, "):
        studio.run(["nope"])
    with pytest.raises(ValueError, match="unknown method"):
        studio.selected = ["nope"]


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


# ---------------------------------------------------------------- out-of-date tiles (issue 22)


def _stale(studio) -> list[bool]:
    """Per tile on show: greyed (its class) and labelled out of date (its note shown)."""
    out = []
    for box in studio.tiles.children:
        greyed = "pconv-studio-stale" in box._dom_classes
        note = box.children[3]
        assert greyed == (note.layout.display != "none") and "out of date: press Inpaint" in note.value
        out.append(greyed)
    return out


def test_with_live_off_a_change_of_the_holes_greys_the_tiles_until_inpaint(studio):
    studio.paint([(10, 10), (40, 20)], 5)
    studio.run(["tiny", "mean_fill"])
    assert _stale(studio) == [False, False] and "fill(s)" in studio.status.value
    studio.begin_stroke()
    studio.paint([(50, 30)], 4)  # a mouse stroke in progress: out of date at once
    assert _stale(studio) == [True, True] and "out of date" in studio.status.value
    studio.end_stroke()
    assert _stale(studio) == [True, True]
    studio.undo()  # the holes the tiles were filled for: current again, with their status line
    assert _stale(studio) == [False, False] and "fill(s)" in studio.status.value
    studio.clear()
    assert _stale(studio) == [True, True]
    assert "out of date" in studio.status.value and "0.0% hole now" in studio.status.value
    studio.run(["tiny", "mean_fill"])
    assert _stale(studio) == [False, False] and "no hole yet" in studio.status.value


def test_a_stroke_during_a_run_leaves_its_tiles_out_of_date(studio, monkeypatch):
    studio.paint([(10, 10)], 5)
    fill = studio.method("mean_fill").fill

    def painting_meanwhile(image, mask):  # the user draws while the fill computes
        studio.paint([(40, 30)], 5)
        return fill(image, mask)

    monkeypatch.setattr(studio.method("mean_fill"), "fill", painting_meanwhile)
    studio.run(["mean_fill"])
    assert _stale(studio) == [True] and "out of date" in studio.status.value


def test_with_live_on_the_tiles_are_not_greyed_a_rerun_comes(studio):
    studio.selected = ["mean_fill"]
    studio.paint([(10, 10)], 5)
    studio.run()
    studio.controls["live"].value = True
    assert studio.wait(60)
    studio.paint([(40, 30)], 5)
    assert _stale(studio) == [False]
    assert studio.wait(60) and _stale(studio) == [False]
    assert torch.equal(studio.results["mean_fill"], studio.method("mean_fill").fill(studio.image, studio.mask))


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
