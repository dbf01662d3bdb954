"""The quickstart recipe builds consistent objects, shrinks in smoke mode and trains for a step."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from pconv.nn import PConvUNet, PConvUNetWithStem
from pconv.train import Trainer, load_checkpoint, recipes
from pconv.train.recipes import Recipe, quickstart

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_quality.py"


def _check_consistent(recipe: Recipe) -> None:
    model, loss_fn = recipe.model(), recipe.loss()
    assert recipe.size % model.multiple == 0
    assert not loss_fn.uses_vgg  # nothing to download: L1 + TV only
    config = recipe.train_config("unused")
    assert config.size == recipe.size and config.steps == recipe.steps
    assert config.warmup_steps < config.steps
    train, val = recipe.datasets()
    item = train[0]
    assert item["image"].shape == (3, recipe.size, recipe.size) and item["mask"].shape == (1, recipe.size, recipe.size)
    assert val[0]["image"].shape == item["image"].shape


@pytest.mark.parametrize("smoke", [True, False])
def test_cpu_recipes_are_consistent(smoke):
    recipe = quickstart("cpu", smoke=smoke)
    _check_consistent(recipe)
    model = recipe.model()
    # the CPU recipe has the stem and head (benchmarks/RESULTS.md, "Quality": S1); smoke is the paper's network
    assert type(model) is (PConvUNet if smoke else PConvUNetWithStem) and type(model).__name__ == recipe.model_name
    assert model.config == {**model.config, **recipe.model_kwargs}
    assert recipe.describe().startswith(f"{recipe.name}: {recipe.size}x{recipe.size} crops, {recipe.model_name}(")
    train, _ = recipe.datasets()
    batch = torch.stack([train[i]["image"] for i in range(2)]), torch.stack([train[i]["mask"] for i in range(2)])
    with torch.no_grad():
        output, _ = model.eval()(batch[0] * batch[1], batch[1])
    assert output.shape == batch[0].shape and torch.isfinite(output).all()


def test_smoke_recipe_is_tiny_and_follows_the_environment(monkeypatch):
    monkeypatch.setenv("PCONV_SMOKE", "1")
    recipe = quickstart("cpu")
    assert recipe.name == "quickstart-smoke"
    assert recipe.steps <= 10 and recipe.size <= 32 and recipe.per_bin == 1
    assert sum(p.numel() for p in recipe.model().parameters()) < 100_000
    monkeypatch.delenv("PCONV_SMOKE")
    assert quickstart("cpu").name == "quickstart-cpu"


def test_cuda_recipe_is_scaled_up(monkeypatch):
    cpu = quickstart("cpu", smoke=False)
    monkeypatch.setattr(recipes, "resolve_device", lambda device: torch.device("cuda"))
    gpu = quickstart(smoke=False)
    assert gpu.name == "quickstart-cuda" and gpu.size > cpu.size and gpu.steps > cpu.steps
    assert gpu.size % 2 ** gpu.model_kwargs["layers"] == 0
    assert gpu.train_kwargs["device"] == "cuda"


def test_model_is_seeded():
    recipe = quickstart("cpu", smoke=True)
    a, b = recipe.model(), recipe.model()
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_with_steps_and_with_size_keep_the_recipe_consistent():
    recipe = quickstart("cpu", smoke=False)
    short = recipe.with_steps(recipe.steps // 10)
    assert short.steps == recipe.steps // 10
    assert 0 < short.train_kwargs["warmup_steps"] < short.steps
    assert short.train_kwargs["val_every"] <= short.steps
    assert recipe.steps == quickstart("cpu", smoke=False).steps  # the original is untouched
    assert recipe.with_size(2 * recipe.size).train_config().size == 2 * recipe.size
    with pytest.raises(ValueError, match="multiple of 2\\*\\*layers"):
        recipe.with_size(recipe.size + 1)


def test_one_training_step_and_score(tmp_path):
    recipe = quickstart("cpu", smoke=True)
    model = recipe.model()
    train, val = recipe.datasets()
    history = Trainer(model, recipe.loss(), recipe.train_config(tmp_path / "run", steps=1, progress=False)).fit(
        train, val
    )
    assert history[-1]["step"] == 1 and torch.isfinite(torch.tensor(history[-1]["loss/total"]))
    assert load_checkpoint(tmp_path / "run" / "ckpt_1.pt")["step"] == 1
    report = recipe.score(model, methods=["model", "mean_fill"], progress=False)
    assert report.methods == ["model", "mean_fill"]
    assert sum(report.results["model"][b]["n"] for b in report.bins) == 6 * recipe.per_bin


def test_bench_quality_smoke_run(capsys):
    spec = importlib.util.spec_from_file_location("bench_quality", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["--smoke", "--device", "cpu", "--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 steps in" in out and "telea" in out.lower() and "goal" in out


def test_bench_quality_set_changes_one_setting(capsys):
    spec = importlib.util.spec_from_file_location("bench_quality", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    recipe = quickstart("cpu", smoke=True)
    changed = bench.apply_settings(
        recipe,
        ["model.max_channels=16", "loss.hole=3", "train.lr=0.001", "hole_range=[0.1,0.4]", "train.schedule=constant"],
    )
    assert changed.model_kwargs == {**recipe.model_kwargs, "max_channels": 16}
    assert changed.loss_kwargs["hole"] == 3 and changed.train_kwargs["lr"] == 0.001
    assert changed.train_kwargs["schedule"] == "constant" and changed.hole_range == (0.1, 0.4)
    assert recipe.model_kwargs["max_channels"] == 32  # the original recipe is untouched
    for bad, message in [
        ("model.max_channels", "KEY=VALUE"),
        ("size=32", "KEY must be"),
        ("model.wings=2", "model settings"),
        ("model.residual=true", "model settings"),  # removed (benchmarks/RESULTS.md, "Quality", 2026-12-07)
        ("model=Nope", "model settings.*model_name must be one of"),
        ("train.schedule=zigzag", "train settings"),
    ]:
        with pytest.raises(SystemExit, match=message):
            bench.apply_settings(recipe, [bad])
    argv = ["--smoke", "--device", "cpu", "--steps", "1", "--set", "model=PConvUNetWithStem"]
    assert bench.main([*argv, "--set", "model.stem_channels=4"]) == 0
    assert "PConvUNetWithStem(layers=3, base_channels=8, max_channels=32, stem_channels=4)" in capsys.readouterr().out


def test_bench_quality_switches_the_model_class_and_drops_an_argument():
    """The quickstart's stem network back to the paper's: `--set model=PConvUNet --set model.stem_channels=null`."""
    spec = importlib.util.spec_from_file_location("bench_quality", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    recipe = quickstart("cpu", smoke=False)
    assert recipe.model_name == "PConvUNetWithStem" and recipe.model_kwargs["stem_channels"] == 16
    paper = bench.apply_settings(recipe, ["model=PConvUNet", "model.stem_channels=null"])
    assert paper.model_name == "PConvUNet" and "stem_channels" not in paper.model_kwargs
    assert type(paper.model()) is PConvUNet
    with pytest.raises(SystemExit, match="model settings.*stem_channels"):  # the class has no such argument
        bench.apply_settings(recipe, ["model=PConvUNet"])
