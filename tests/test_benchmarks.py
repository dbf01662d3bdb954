"""The benchmark scripts run end to end on tiny configurations and print their ratios."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _run(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args], capture_output=True, text=True, timeout=300, cwd=BENCH.parent
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_bench_pconv_tiny():
    out = _run(
        "bench_pconv.py",
        "--device",
        "cpu",
        "--size",
        "32",
        "--batch-size",
        "1",
        "--repeats",
        "1",
        "--layers",
        "3",
        "--base-channels",
        "8",
        "--threads",
        "1",
    )
    assert "plain" in out and "naive" in out


def test_bench_unet_tiny():
    out = _run(
        "bench_unet.py", "--device", "cpu", "--sizes", "32x48", "--batch-size", "1", "--steps", "1", "--threads", "1"
    )
    assert "32x48" in out


def test_bench_masks_smoke():
    assert "masks/s" in _run("bench_masks.py", "--smoke", "--size", "64")


@pytest.mark.skipif(not (BENCH / "bench_quality.py").exists(), reason="bench_quality.py not written yet")
def test_bench_quality_help():
    assert "usage" in _run("bench_quality.py", "--help")
