"""Quality of the quickstart recipe: train for a fixed budget, then beat Telea and biharmonic?

    python benchmarks/bench_quality.py [--steps N | --minutes M] [--device auto] [--size 64]
                                       [--per-bin 16] [--eval-size 64] [--threads T]
                                       [--set KEY=VALUE ...] [--record [--results FILE]] [--smoke]

Trains `pconv.train.recipes.quickstart()` (the configuration of notebooks/00_quickstart.ipynb)
on random crops of the six training sample photos, then scores it with
`evaluate_inpainting` on held-out crops of the two validation photos against the
classical baselines, with a fixed binned test-mask set made by `make_test_masks` at
the recipe's crop size. The goal (issue 5): within the quickstart's budget the model
beats both Telea and biharmonic in PSNR for holes up to 40 % (bins 1-10 .. 30-40 %).

`--minutes M` times a few steps first and sets the step count to fit M minutes (the
schedule is then planned for that count; a hard stop at M minutes guards it).
`--set` changes one setting of the recipe, for tuning runs: `model=CLASS` (a class of
`pconv.nn.pconv_unet`: `PConvUNet`, `PConvUNetWithStem`), `model.NAME=VALUE` (an argument of the
model's constructor; `null` removes it, back to the default), `loss.NAME=VALUE`
(`InpaintingLoss`), `train.NAME=VALUE` (`TrainConfig`), `hole_range=[lo,hi]` or
`train_length=N`; VALUE is JSON (`true`, `0.5`, `[0.01,0.4]`) or else a string. For example
`--set model.stem_channels=8 --set loss.hole=3`, or the paper's network without the stem:
`--set model=PConvUNet --set model.stem_channels=null`.
`--eval-size S` scores on S x S crops instead of the training size: the GPU recipe
(128 x 128 crops) trained with `--device cuda --eval-size 64 --per-bin 16` is scored on
exactly the held-out crops and test masks of the CPU figures (benchmarks/gpu_check.sh).
`--record` appends the run (machine, date, command, time, table) to the "Quality"
section of benchmarks/RESULTS.md, or of the file named by `--results`.
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from pconv.train import StopAfter, Trainer, quickstart
from pconv.utils import is_smoke

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION = "## Quality"
GOAL_BINS = ("1-10%", "10-20%", "20-30%", "30-40%")
BASELINES = ("telea", "biharmonic")


def seconds_per_step(recipe, n: int = 6) -> float:
    """Wall seconds of one training step (data included), timed on a throwaway copy of the model."""
    model, loss_fn = recipe.model(), recipe.loss()
    train, _ = recipe.datasets()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(
            model,
            loss_fn,
            recipe.train_config(
                tmp, steps=2 + n, progress=False, val_every=10**6, sample_every=10**6, checkpoint_every=10**6
            ),
        )
        times: list[float] = []

        class Clock:
            def on_step_end(self, trainer, step, terms):
                times.append(time.perf_counter())

        trainer.callbacks.append(Clock())
        trainer.fit(train)
    gaps = sorted(b - a for a, b in zip(times[1:-1], times[2:-1]))  # skip the first step and the final checkpoint
    return gaps[len(gaps) // 2]


_SECTIONS = {"model": "model_kwargs", "loss": "loss_kwargs", "train": "train_kwargs"}
_TOP = ("hole_range", "train_length")
_MODEL_CLASS = "model"  # `--set model=CLASS`: the recipe's model_name


def apply_settings(recipe, settings: list[str]):
    """The recipe with each `KEY=VALUE` of `--set` applied (see the module docstring)."""
    import json

    changes: dict = {}
    for item in settings:
        key, sep, text = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE, e.g. model.stem_channels=8")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        section, _, name = key.partition(".")
        if section in _SECTIONS and name:
            field = _SECTIONS[section]
            changes[field] = {**changes.get(field, getattr(recipe, field)), name: value}
            if value is None:  # null: the constructor's default
                del changes[field][name]
        elif key == _MODEL_CLASS:
            changes["model_name"] = str(value)
        elif key in _TOP:
            changes[key] = tuple(value) if key == "hole_range" else int(value)
        else:
            raise SystemExit(
                f"--set {item!r}: KEY must be model, model.NAME, loss.NAME, train.NAME, hole_range or train_length"
            )
    recipe = replace(recipe, **changes)
    for build, what in ((recipe.model, "model"), (recipe.loss, "loss"), (recipe.train_config, "train")):
        try:
            build()
        except (TypeError, ValueError) as err:
            raise SystemExit(f"--set: the {what} settings do not work: {err}") from None
    return recipe


def goal_margins(report) -> dict[str, float]:
    """Per goal bin: model PSNR minus the better of Telea and biharmonic (positive = the model wins)."""
    r = report.results
    return {b: r["model"][b]["psnr"] - max(r[m][b]["psnr"] for m in BASELINES if m in r) for b in GOAL_BINS}


def machine(device: str | torch.device = "cpu") -> str:
    """The GPU (on CUDA), the CPU, its visible cores, and torch's version and threads."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    gpu = f"{torch.cuda.get_device_name(device)}; " if torch.device(device).type == "cuda" else ""
    return f"{gpu}{cpu}, {cores} cores visible, torch {torch.__version__} with {torch.get_num_threads()} threads"


def record(text: str, results: Path = RESULTS) -> None:
    """Append `text` at the end of the Quality section of `results` (creating either if absent)."""
    body = (
        results.read_text()
        if results.exists()
        else ("# Benchmark results\n\nFigures from `benchmarks/bench_*.py`, each with its machine, date and command.\n")
    )
    if SECTION not in body:
        body = (
            body.rstrip("\n") + f"\n\n{SECTION}\n\n`benchmarks/bench_quality.py`: the quickstart recipe vs the "
            "classical baselines on held-out sample photos.\n"
        )
    start = body.index(SECTION) + len(SECTION)
    nxt = body.find("\n## ", start)
    end = len(body) if nxt < 0 else nxt
    body = body[:end].rstrip("\n") + "\n\n" + text.strip("\n") + "\n" + body[end:]
    results.write_text(body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="training steps (default: the recipe's)")
    budget.add_argument("--minutes", type=float, help="training budget in minutes (steps fitted to it)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, ...")
    parser.add_argument("--size", type=int, help="crop side for training and evaluation (default: the recipe's)")
    parser.add_argument("--per-bin", type=int, help="test masks per hole bin (default: the recipe's)")
    parser.add_argument("--eval-size", type=int, help="crop side for the evaluation only (default: the training size)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change one recipe setting, e.g. model.stem_channels=8 (repeatable)",
    )
    parser.add_argument("--out", help="keep the run (checkpoints, history) here instead of a temporary folder")
    parser.add_argument("--record", action="store_true", help="append the result to benchmarks/RESULTS.md")
    parser.add_argument("--results", type=Path, default=RESULTS, help="the file --record appends to")
    parser.add_argument("--smoke", action="store_true", help="a seconds-long run (for tests)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    recipe = quickstart(args.device, smoke=args.smoke or is_smoke())
    if args.size:
        recipe = recipe.with_size(args.size)
    if args.per_bin:
        recipe = replace(recipe, per_bin=args.per_bin)
    recipe = apply_settings(recipe, args.settings)
    scoring = recipe
    if args.eval_size:
        try:
            scoring = recipe.with_size(args.eval_size)
        except ValueError as err:
            raise SystemExit(f"--eval-size {args.eval_size}: {err}") from None
    stop_after = None
    if args.minutes:
        sec = seconds_per_step(recipe)
        recipe = recipe.with_steps(int(args.minutes * 60 / sec))
        stop_after = args.minutes * 60
        print(f"calibration: {sec:.3f} s/step -> {recipe.steps} steps in {args.minutes:g} min")
    elif args.steps:
        recipe = recipe.with_steps(args.steps)
    command = "python benchmarks/bench_quality.py " + " ".join(map(shlex.quote, sys.argv[1:] if argv is None else argv))
    device = recipe.train_kwargs["device"]
    print(f"# bench_quality  {time.strftime('%Y-%m-%d %H:%M')}  {machine(device)}")
    print(recipe.describe())
    evaluation = f"{scoring.size}x{scoring.size} held-out crops, {scoring.per_bin} test masks per bin"
    print(f"evaluation: {evaluation}")

    model, loss_fn = recipe.model(), recipe.loss()
    train, val = recipe.datasets()
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or tmp
        config = recipe.train_config(out, progress=False)
        callbacks = [StopAfter(stop_after)] if stop_after else []
        t0, c0 = time.perf_counter(), time.process_time()
        history = Trainer(model, loss_fn, config, callbacks=callbacks).fit(train, val)
        train_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
    steps = history[-1]["step"] if history else 0
    t1 = time.perf_counter()
    report = scoring.score(copy.deepcopy(model), progress=False)
    eval_s = time.perf_counter() - t1
    margins = goal_margins(report)
    won = all(m > 0 for m in margins.values())
    timing = (
        f"{steps} steps in {train_s:.0f} s ({train_s / max(steps, 1):.3f} s/step wall, "
        f"{cpu_s / max(steps, 1):.3f} s/step CPU), evaluation {eval_s:.0f} s"
    )
    verdict = (
        "model - best of (telea, biharmonic) PSNR: "
        + ", ".join(f"{b} {m:+.2f} dB" for b, m in margins.items())
        + (" -> goal met" if won else " -> goal NOT met")
    )
    print(timing)
    print(report.to_text())
    print(verdict)
    if args.record:
        record(
            f"### {time.strftime('%Y-%m-%d')}: {recipe.name}, {steps} steps\n\n"
            f"- machine: {machine(device)}\n- command: `{command.strip()}`\n- recipe: {recipe.describe()}\n"
            f"- evaluation: {evaluation}\n- time: {timing}\n- {verdict}\n\n{report.to_markdown()}\n",
            args.results,
        )
        print(f"recorded in {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
