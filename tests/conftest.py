"""Test-wide isolation: nothing a test does touches the user's data, outputs, caches or credentials.

Also the `cuda` marker: such tests are skipped (with the reason shown by `-ra`) where
CUDA is missing, unless `PCONV_GPU_DRY_RUN=1` asks to run them on the CPU, as the
rehearsal `benchmarks/gpu_check.sh --dry-run` does. They take their device from the
`cuda_device` fixture.
"""

from __future__ import annotations

import os
import signal

import pytest
import torch

os.environ.setdefault("MPLBACKEND", "Agg")

GPU_DRY_RUN = "PCONV_GPU_DRY_RUN"


def gpu_dry_run() -> bool:
    """True when the `cuda` tests should run on the CPU (`PCONV_GPU_DRY_RUN=1`)."""
    return os.environ.get(GPU_DRY_RUN) == "1"


def pytest_collection_modifyitems(config, items):
    if gpu_dry_run() or torch.cuda.is_available():
        return
    skip = pytest.mark.skip(
        reason=f"needs CUDA, none here: benchmarks/gpu_check.sh runs it on a GPU; {GPU_DRY_RUN}=1 runs it on the CPU"
    )
    for item in items:
        if item.get_closest_marker("cuda"):
            item.add_marker(skip)


@pytest.fixture
def cuda_device() -> torch.device:
    """The device of a `cuda` test: CUDA, or the CPU under `PCONV_GPU_DRY_RUN=1`."""
    return torch.device("cpu") if gpu_dry_run() else torch.device("cuda")


@pytest.fixture
def default_stop_signals():
    """SIGINT, SIGTERM and SIGHUP at their defaults for the test, as in a terminal; restored after.

    A runner started in the background by a script (`make test &`: SIGINT ignored) or under
    nohup (SIGHUP ignored) hands every process those signals ignored, and pconv rightly keeps an
    ignored signal ignored; the tests of the stop signals need them live, here and in the
    processes they start.
    """
    stops = [s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    before = {s: signal.getsignal(s) for s in stops}
    for s in stops:
        signal.signal(s, signal.default_int_handler if s == signal.SIGINT else signal.SIG_DFL)
    yield
    for s, handler in before.items():
        signal.signal(s, handler if handler is not None else signal.SIG_DFL)


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory, tmp_path, monkeypatch):
    """Point data, outputs and the torch hub cache at temporary folders; hide Kaggle credentials.

    Outputs (run folders, figures) are per test, so no test sees another's runs; generated
    data (the fixed test-mask sets) is shared by the session, as it is for a user.
    """
    root = tmp_path_factory.getbasetemp()
    monkeypatch.setenv("PCONV_DATA_DIR", str(root / "data"))
    monkeypatch.setenv("PCONV_OUTPUT_DIR", str(tmp_path / "outputs"))
    monkeypatch.setenv("TORCH_HOME", str(root / "torch_home"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(root / "no_kaggle_config"))
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN", "PCONV_SMOKE"):
        monkeypatch.delenv(var, raising=False)
