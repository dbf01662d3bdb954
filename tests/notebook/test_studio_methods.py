"""pconv.notebook.studio_methods: which fills the studio finds, how they load, run and are cached."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from pconv.evaluation import available_baselines
from pconv.nn import PConvUNet
from pconv.notebook import studio_methods
from pconv.notebook.studio_methods import Method, ResultCache, discover_methods, no_default_network
from pconv.train import model_info, save_checkpoint
from pconv.train.runs import MIN_STEPS
from pconv.utils import output_dir

CLASSICAL = list(available_baselines())


def _tiny(seed: int = 0) -> PConvUNet:
    torch.manual_seed(seed)
    return PConvUNet(layers=3, base_channels=8)


def _run_folder(
    name: str, steps: list[int], best: bool, mtime: float, task: str | None = None, psnr: float | None = None
) -> list:
    """A run folder under outputs/runs/ as the trainer leaves it: ckpt_<step>.pt files and maybe best.pt.

    Each step has its own weights (seeded by the step); best.pt is the first step's file, with a
    validation PSNR of `psnr` recorded as the trainer's `best` entry.
    """
    folder = output_dir() / "runs" / name
    config = {"model": model_info(_tiny()), **({"task": task} if task else {})}
    record = {"metric": "val/psnr", "value": psnr, "step": steps[0] if psnr is not None else None}
    paths = []
    for step in steps:
        ckpt = {"step": step, "model": _tiny(step).state_dict(), "config": config, "best": record}
        paths.append(save_checkpoint(ckpt, folder / f"ckpt_{step}.pt"))
    if best:
        paths.append(shutil.copyfile(paths[0], folder / "best.pt"))  # what the trainer writes: the same dict
    for p in paths:
        os.utime(p, (mtime, mtime))
    return paths


def test_nothing_trained_gives_the_classical_fills_with_the_fast_ones_ticked():
    methods = discover_methods()
    assert [m.name for m in methods] == CLASSICAL
    assert {m.name for m in methods if m.default} == {"harmonic", "telea"} & set(CLASSICAL)
    assert all(m.kind == "classical" and not m.is_network for m in methods)
    assert no_default_network(methods) == "no trained network yet: 00_quickstart trains one in a few CPU minutes"


def test_runs_are_ranked_by_validation_psnr_and_smoke_runs_are_listed_last_never_ticked():
    # issue 22: after smoke runs of 03 and 04 the newest run, a 4-step one, was ticked
    _run_folder("quick", [1600, 2000], best=True, mtime=1_000_000, psnr=24.5)
    _run_folder("longer", [200, 300], best=True, mtime=2_000_000, psnr=22.0)
    _run_folder("smoke", [4], best=True, mtime=3_000_000, psnr=30.0)  # the newest, the best score: still last
    (output_dir() / "runs" / "empty").mkdir()
    networks = [m for m in discover_methods() if m.is_network]
    assert [m.name for m in networks] == [
        "quick/best",
        "quick/step 2000",
        "longer/best",
        "longer/step 300",
        "smoke/best",  # best.pt is step 4's file: shown once
    ]
    assert [m.name for m in networks if m.default] == ["quick/best"]
    assert networks[0].source.endswith("best.pt") and networks[0].kind == "checkpoint"
    assert networks[0].detail == "2000 steps, val PSNR 24.5 dB" and networks[0].steps == 2000
    assert networks[-1].detail == "4 steps, val PSNR 30.0 dB, smoke/tiny run"


def test_only_smoke_runs_tick_no_network_and_say_why():
    _run_folder("smoke-03", [2, 4], best=True, mtime=1_000_000, psnr=8.0)
    _run_folder("smoke-04", [4], best=False, mtime=2_000_000)
    methods = discover_methods()
    networks = [m for m in methods if m.is_network]
    assert [m.name for m in networks] == ["smoke-04/step 4", "smoke-03/best", "smoke-03/step 4"]  # newest first
    assert not any(m.default for m in networks)
    why = no_default_network(methods)
    assert "no network ticked" in why and f"at least {MIN_STEPS} steps" in why and "the longest: 4 steps" in why


def test_best_and_the_newest_step_with_the_same_weights_are_one_method():
    paths = _run_folder("run", [500], best=True, mtime=1_000_000, psnr=20.0)
    assert [m.name for m in discover_methods() if m.is_network] == ["run/best"]
    ckpt = torch.load(paths[-1], weights_only=True)  # written again, bytes differ: the tensors decide
    torch.save({**ckpt, "history": [{"step": 500}]}, paths[-1])
    assert [m.name for m in discover_methods() if m.is_network] == ["run/best"]
    torch.save({**ckpt, "model": _tiny(7).state_dict()}, paths[-1])  # same step, other weights: both
    assert [m.name for m in discover_methods() if m.is_network] == ["run/best", "run/step 500"]


def test_segmentation_runs_beside_the_inpainting_runs_are_left_out():
    # 05's U-Net runs live in outputs/runs/ too: the newest run was one, ticked, and failed in its tile
    _run_folder("inpaint", [400], best=True, mtime=1_000_000, task="inpainting", psnr=20.0)
    _run_folder("segment", [600], best=True, mtime=2_000_000, task="segmentation")
    (output_dir() / "runs" / "broken").mkdir()
    (output_dir() / "runs" / "broken" / "ckpt_9.pt").write_bytes(b"not a checkpoint")
    networks = [m for m in discover_methods() if m.is_network]
    assert [m.name for m in networks] == ["inpaint/best", "broken/step 9"]
    assert [m.default for m in networks] == [True, False]  # the unreadable one is listed, not ticked
    assert networks[1].detail == "cannot be read"


def test_the_conv_kind_of_a_network_shows_when_it_is_not_partial():
    (path,) = _run_folder("gated", [300], best=False, mtime=1_000_000)
    ckpt = torch.load(path, weights_only=True)
    ckpt["config"]["model"]["kwargs"]["conv"] = "gated"
    torch.save(ckpt, path)
    (method,) = [m for m in discover_methods() if m.is_network]
    assert method.detail == "300 steps, gated conv"


def test_a_checkpoint_loads_once_in_eval_mode_and_fills_like_its_model():
    _run_folder("run", [400], best=True, mtime=1_000_000, psnr=20.0)
    best = discover_methods()[0]
    image, mask = torch.rand(3, 20, 28), torch.ones(1, 20, 28)
    mask[:, 5:12, 8:20] = 0
    out = best.fill(image, mask)
    model = best.get()
    assert best.get() is model and not model.training and best.load_seconds > 0
    assert torch.equal(out, _tiny(400).inpaint(image, mask))


def test_models_passed_in_come_first_and_are_named():
    net, fn = _tiny(), lambda image, mask: image
    assert [m.name for m in discover_methods(net)][:1] == ["model"]
    assert [m.name for m in discover_methods([net, fn])][:2] == ["model 1", "model 2"]
    methods = discover_methods({"mine": net, "harmonic": fn})
    assert [m.name for m in methods][:2] == ["mine", "harmonic"] and "harmonic (2)" in [m.name for m in methods]
    assert all(m.default for m in methods[:2])
    with pytest.raises(TypeError, match=r"models\['x'\] is a int"):
        discover_methods({"x": 3})


def test_a_checkpoint_path_passed_in_is_a_method(tmp_path):
    (path,) = _run_folder("elsewhere", [3], best=False, mtime=1_000_000)
    moved = tmp_path / "mine.pt"
    path.rename(moved)
    (method,) = [m for m in discover_methods({"mine": moved}) if m.name == "mine"]
    assert method.kind == "checkpoint" and method.get().layers == 3


def test_cached_pretrained_models_are_offered_and_ticked_when_no_run_is_trusted(monkeypatch):
    loaded = []

    def load_pretrained(name, *, device):
        loaded.append((name, device))
        return _tiny()

    _run_folder("smoke", [4], best=False, mtime=1_000_000)
    monkeypatch.setattr(studio_methods, "cached", lambda: ["naoto-places2", "mmagic-celeba"])
    monkeypatch.setattr(studio_methods, "load_pretrained", load_pretrained)
    methods = discover_methods()
    networks = [m for m in methods if m.is_network]
    assert [(m.name, m.kind, m.default) for m in networks] == [
        ("pretrained/naoto-places2", "pretrained", True),
        ("pretrained/mmagic-celeba", "pretrained", False),
        ("smoke/step 4", "checkpoint", False),
    ]
    assert loaded == [] and no_default_network(methods) is None  # listing loads nothing
    networks[1].get()
    assert loaded == [("mmagic-celeba", torch.device("cpu"))]
    _run_folder("trained", [300], best=False, mtime=2_000_000)  # a trusted run comes first, ticked
    assert [m.name for m in discover_methods() if m.default and m.is_network] == ["trained/step 300"]


def test_a_cache_that_cannot_be_listed_offers_no_pretrained_model(monkeypatch, caplog):
    monkeypatch.setattr(studio_methods, "cached", lambda: 1 / 0)
    assert [m.name for m in discover_methods()] == CLASSICAL
    assert "could not list the cached pretrained models: ZeroDivisionError" in caplog.text


def test_a_plain_callable_is_composited_and_its_output_is_the_raw_output():
    method = Method("plain", "model", "fn", lambda: lambda image, mask: (torch.full_like(image, 2.0), mask))
    image, mask = torch.rand(3, 6, 9), torch.ones(1, 6, 9)
    mask[:, 2:4, 3:7] = 0
    out = method.fill(image, mask)
    assert torch.equal(out, torch.where(mask > 0.5, image, torch.ones(3, 6, 9)))  # clamped to [0, 1]
    assert torch.equal(method.raw(image, mask), torch.ones(3, 6, 9))
    wrong = Method("wrong", "model", "fn", lambda: lambda image, mask: image[:, :, :2])
    with pytest.raises(ValueError, match="returned shape"):
        wrong.fill(image, mask)


def test_a_network_raw_output_is_its_predict_and_its_fill_the_composite():
    model = _tiny().eval()
    image, mask = torch.rand(3, 37, 53), (torch.rand(1, 37, 53) > 0.3).float()
    method = Method("net", "model", "PConvUNet", lambda: model)
    assert torch.equal(method.raw(image, mask), model.predict(image, mask))
    assert torch.equal(method.fill(image, mask), torch.where(mask > 0.5, image, model.predict(image, mask)))


def test_the_cache_computes_once_per_key_and_forgets_the_oldest():
    calls = []

    def fill(image, mask):
        calls.append(1)
        return image

    method = Method("count", "classical", "fill", lambda: fill)
    cache, image, mask = ResultCache(2), torch.rand(3, 4, 4), torch.zeros(1, 4, 4)
    assert cache.get(method, image, mask, "a")[2] is False
    assert cache.get(method, image, mask, "a")[2] is True and len(calls) == 1
    cache.get(method, image, mask, "b")
    cache.get(method, image, mask, "c")  # evicts "a"
    assert cache.get(method, image, mask, "a")[2] is False and len(calls) == 4


def test_a_junk_high_numbered_checkpoint_does_not_hide_the_valid_one(caplog):
    _run_folder("run", [4], best=False, mtime=1_000_000)
    run = output_dir() / "runs" / "run"
    (run / "ckpt_50.pt").write_bytes(b"junk, e.g. a copy cut short")
    (run / "ckpt_7.pt").write_bytes((run / "ckpt_4.pt").read_bytes())  # a stale name: step 4 inside
    with caplog.at_level("WARNING", logger="pconv.notebook.studio"):
        networks = [m for m in discover_methods() if m.is_network]
    assert [(m.name, Path(m.source).name) for m in networks] in (
        [("run/step 4", "ckpt_4.pt")],
        [("run/step 4", "ckpt_7.pt")],
    )
    assert "skipped" in caplog.text and "ckpt_50.pt" in caplog.text
