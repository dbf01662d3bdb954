"""The benchmark scripts run end to end on tiny configurations and print their ratios;
benchmarks/gpu_check.sh rehearses its GPU steps on the CPU (`--dry-run`) and reports failures."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
GPU_CHECK = BENCH / "gpu_check.sh"


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=300, cwd=BENCH.parent
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_bench_pconv_tiny(tmp_path):
    figures = tmp_path / "figures.jsonl"
    tiny = ["--device", "cpu", "--size", "32", "--batch-size", "1", "--repeats", "1", "--layers", "3"]
    unet = ["--unet-features", "8,16"]
    out = _run("bench_pconv.py", *tiny, "--base-channels", "8", "--threads", "1", *unet, "--json", str(figures))
    assert "plain" in out and "naive" in out and "img/s" in out
    assert "(d) convolution variants" in out and "(e) U-Net padding, UNet(8, 16)" in out
    summary = out.strip().splitlines()[-1]
    assert summary.startswith("summary: 32px fp32: PConvUNet step") and "gated" in summary and "padding" in summary
    skip = ["--skip-layers", "--skip-variants"]
    _run("bench_pconv.py", *tiny, "--base-channels", "8", *skip, "--amp", "bf16", "--json", str(figures))
    first, second = (json.loads(line) for line in figures.read_text().splitlines())
    assert first["precision"] == "fp32" and second["precision"] == "bf16" and second["args"]["amp"] == "bf16"
    assert [row["layer"] for row in first["layers_table"]] == ["enc1", "enc2", "enc3", "dec1", "dec2", "dec3"]
    assert second["layers_table"] is None and second["variants"] is None and second["padding"] is None
    variants, padding = first["variants"], first["padding"]
    assert set(variants["step"]) == set(variants["infer"]) == {"twin", "partial", "plain", "gated"}
    assert variants["params"]["gated"] > 1.5 * variants["params"]["plain"]  # two branches per gated layer
    assert variants["params"]["plain"] == variants["params"]["partial"] == variants["params"]["twin"]
    assert set(padding["step"]) == set(padding["infer"]) == {"zeros", "partial"}
    for key in ("variants step gated/twin", "variants infer plain/twin", "padding step partial/zeros"):
        assert first["ratios"][key] > 0 and key not in second["ratios"]
    for fig in (first, second):
        assert set(fig["step"]) == set(fig["infer"]) == {"plain", "pconv", "naive", "unet"}  # unet: no entry checks
        assert all(v > 0 for v in fig["ratios"].values()) and fig["step"]["pconv"]["img_s"] > 0


def test_bench_pconv_bad_unet_features():
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_pconv.py"), "--unet-features", "8,0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "--unet-features" in done.stderr and "16,32,64,128" in done.stderr


def test_bench_pconv_refuses_a_one_pixel_bottleneck_before_any_timing():
    # 16 px through four U-Net levels at batch 1 is one value per channel: BatchNorm cannot train on it
    args = ["--size", "16", "--batch-size", "1", "--device", "cpu"]
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_pconv.py"), *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "1x1 bottleneck" in done.stderr and "--skip-variants" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_bench_unet_tiny(tmp_path):
    figures = tmp_path / "figures.jsonl"
    args = ["--device", "cpu", "--sizes", "32x48", "--batch-size", "1", "--steps", "1", "--threads", "1"]
    out = _run("bench_unet.py", *args, "--features", "8,16", "--amp", "--json", str(figures))
    assert "32x48" in out and "bf16" in out and out.strip().splitlines()[-1].startswith("summary: UNet training bf16")
    (fig,) = (json.loads(line) for line in figures.read_text().splitlines())
    assert fig["args"]["features"] == [8, 16] and fig["sizes"][0]["size"] == "32x48" and fig["sizes"][0]["img_s"] > 0


def test_bench_unet_bad_features():
    done = subprocess.run(
        [sys.executable, str(BENCH / "bench_unet.py"), "--features", "8,x"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2 and "--features '8,x'" in done.stderr and "8,16" in done.stderr


def test_bench_masks_smoke():
    assert "masks/s" in _run("bench_masks.py", "--smoke", "--size", "64")


def test_bench_fills_smoke(tmp_path):
    figures = tmp_path / "figures.jsonl"
    out = _run("bench_fills.py", "--smoke", "--methods", "patchmatch,mean_fill", "--json", str(figures))
    assert "32x32" in out and "x harmonic wall" in out
    assert out.strip().splitlines()[-1].startswith("summary: patchmatch wall time and its ratio to harmonic: 32px")
    (fig,) = (json.loads(line) for line in figures.read_text().splitlines())
    assert [r["method"] for r in fig["rows"]] == ["harmonic", "patchmatch", "mean_fill"]  # the reference first
    assert fig["rows"][0]["x_wall"] == 1 and all(r["wall_s"] > 0 and 0.2 < r["hole"] < 0.3 for r in fig["rows"])
    bad = [sys.executable, str(BENCH / "bench_fills.py"), "--methods", "nope"]
    done = subprocess.run(bad, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--methods: nope not available here" in done.stderr


@pytest.mark.skipif(not (BENCH / "bench_quality.py").exists(), reason="bench_quality.py not written yet")
def test_bench_quality_help():
    assert "usage" in _run("bench_quality.py", "--help")


def test_bench_quality_eval_size_and_results_file(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("bench_quality", BENCH / "bench_quality.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = tmp_path / "record.md"
    smoke = ["--smoke", "--device", "cpu", "--steps", "1", "--per-bin", "1"]
    assert bench.main([*smoke, "--eval-size", "16", "--record", "--results", str(results)]) == 0
    out = capsys.readouterr().out
    assert "evaluation: 16x16 held-out crops, 1 test masks per bin" in out and "32x32 crops" in out
    text = results.read_text()
    assert text.startswith("# Benchmark results") and "## Quality" in text
    assert "- evaluation: 16x16 held-out crops, 1 test masks per bin" in text and "| n | (images) | 1 |" in text
    with pytest.raises(SystemExit, match="--eval-size 20: .*multiple of 2\\*\\*layers"):
        bench.main([*smoke, "--eval-size", "20"])


# ---------------------------------------------------------------------------- gpu_check.sh


def gpu_check(*args: str, python: str = sys.executable, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PCONV_PYTHON": python}
    return subprocess.run(
        ["bash", str(GPU_CHECK), *args], capture_output=True, text=True, timeout=timeout, cwd=BENCH.parent, env=env
    )


def table(summary: Path) -> dict[str, tuple[str, str]]:
    """{step: (status, key figure)} from summary.md's table."""
    rows = {}
    for line in summary.read_text().splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 4 and cells[0] != "step":
            rows[cells[0]] = (cells[1], cells[3])
    return rows


@pytest.mark.slow
def test_gpu_check_dry_run_passes(tmp_path):
    out = tmp_path / "out"
    done = gpu_check("--dry-run", str(out), timeout=1800)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    rows = table(out / "summary.md")
    assert list(rows) == [
        "setup",
        "tests: pytest -m cuda",
        *(f"pconv {size} {prec}" for size in (16, 32) for prec in ("fp32", "bf16", "bf16-channels_last")),
        "unet bf16",
        "unet fp16",
        "quality 6 s",
    ]
    assert all(status == "ok" for status, _ in rows.values()), rows
    assert " passed" in rows["tests: pytest -m cuda"][1] and "naive/pconv" in rows["pconv 32 bf16"][1]
    assert rows["quality 6 s"][1].startswith("model - best of (telea, biharmonic) PSNR")
    assert done.stdout.rstrip().endswith("every step passed") and "| unet fp16 | ok |" in done.stdout
    figures = [json.loads(line) for line in (out / "figures.jsonl").read_text().splitlines()]
    assert [f["bench"] for f in figures] == ["bench_pconv"] * 6 + ["bench_unet"] * 2
    assert [f["precision"] for f in figures] == ["fp32", "bf16", "bf16"] * 2 + ["bf16", "fp16"]
    assert [f["args"]["channels_last"] for f in figures[:6]] == [False, False, True] * 2
    record = (out / "quality_record.md").read_text()
    assert "## Quality" in record and "- evaluation: 32x32 held-out crops, 2 test masks per bin" in record
    files = list(out.iterdir())  # the device tool returns at most 8 files, no deeper than 2 folders
    assert len(files) <= 8 and all(f.is_file() for f in files)


def fake_python(tmp_path: Path) -> str:
    """A python that sets up fine but whose steps fail: pytest 'times out', the benchmarks crash,
    bench_quality ends without its verdict line."""
    script = tmp_path / "python"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        '  "-m pytest "*) echo "pretend to hang"; exit 124 ;;\n'
        '  *bench_pconv.py*|*bench_unet.py*) echo "pretend to crash"; exit 3 ;;\n'
        '  *bench_quality.py*) echo "no verdict"; exit 0 ;;\n'
        "esac\n"
        f'exec "{sys.executable}" "$@"\n'
    )
    script.chmod(0o755)
    return str(script)


def test_gpu_check_runs_every_step_and_fails_at_the_end(tmp_path):
    out = tmp_path / "out"
    done = gpu_check("--dry-run", str(out), python=fake_python(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    rows = table(out / "summary.md")
    assert rows.pop("setup")[0] == "ok"
    assert rows.pop("tests: pytest -m cuda")[0].startswith("TIMEOUT (")
    assert rows.pop("quality 6 s")[0] == "FAILED (no figure)"
    assert len(rows) == 8 and all(status == "FAILED (exit 3)" for status, _ in rows.values()), rows
    assert "pretend to crash" in done.stdout and "some steps did not pass" in done.stdout
    assert "pretend to hang" in (out / "tests.log").read_text()


def test_gpu_check_quick_and_budget_are_never_silent(tmp_path):
    out = tmp_path / "out"
    done = gpu_check("--dry-run", "--quick", "--budget", "0", str(out))
    assert done.returncode == 1
    assert "trimmed by --quick: bench_pconv at 16 and with channels_last (kept: 32 fp32 and bf16)" in done.stdout
    summary = (out / "summary.md").read_text()
    assert "- trimmed by --quick: bench_unet in fp16 (kept: bf16)" in summary and "quality training to 2 s" in summary
    rows = table(out / "summary.md")
    assert list(rows) == [
        "setup",
        "tests: pytest -m cuda",
        "pconv 32 fp32",
        "pconv 32 bf16",
        "unet bf16",
        "quality 2 s",
    ]
    assert all(status == "skipped (budget)" for status, _ in list(rows.values())[1:]), rows


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_gpu_check_without_cuda_points_to_the_dry_run(tmp_path):
    done = gpu_check(str(tmp_path / "out"))
    assert done.returncode == 1 and "use --dry-run" in done.stdout
    rows = table(tmp_path / "out" / "summary.md")
    assert rows["setup"][0] == "FAILED" and rows["quality"][0] == "not run (setup failed)"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--budget", "soon"], "--budget needs a number of seconds"),
        (["--fast"], "unknown option '--fast'"),
        (["a", "b"], "one OUT_DIR only"),
    ],
)
def test_gpu_check_bad_arguments(args, message):
    done = gpu_check(*args)
    assert done.returncode == 2 and message in done.stderr


def test_gpu_check_help():
    done = gpu_check("--help")
    assert done.returncode == 0 and "--dry-run" in done.stdout and "OUT_DIR" in done.stdout
