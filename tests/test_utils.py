import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from pconv import utils


def test_paths_follow_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PCONV_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("PCONV_OUTPUT_DIR", str(tmp_path / "o"))
    assert utils.data_dir() == tmp_path / "d"
    assert utils.output_dir() == tmp_path / "o"
    monkeypatch.delenv("PCONV_DATA_DIR")
    assert utils.data_dir() == utils.repo_root() / "data"


def test_smoke_flag(monkeypatch):
    monkeypatch.setenv("PCONV_SMOKE", "1")
    assert utils.is_smoke()
    monkeypatch.setenv("PCONV_SMOKE", "0")
    assert not utils.is_smoke()


def test_as_rng():
    g = np.random.default_rng(3)
    assert utils.as_rng(g) is g
    assert utils.as_rng(5).integers(1 << 30) == np.random.default_rng(5).integers(1 << 30)
    assert isinstance(utils.as_rng(None), np.random.Generator)
    with pytest.raises(TypeError, match="rng must be"):
        utils.as_rng("seed")


def test_resolve_device():
    assert utils.resolve_device("cpu") == torch.device("cpu")
    assert utils.resolve_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            utils.resolve_device("cuda")


def test_check_binary_mask():
    utils.check_binary_mask(torch.tensor([[0.0, 1.0]]))
    utils.check_binary_mask(torch.zeros(1, 2, 2, dtype=torch.bool))
    with pytest.raises(ValueError, match="nearest-neighbour"):
        utils.check_binary_mask(torch.tensor([0.0, 0.5, 1.0]))


def test_size_checks():
    assert utils.check_size(5) == 5
    assert utils.check_hw(4) == (4, 4) and utils.check_hw((2, 3)) == (2, 3)
    for bad in (0, -1, True, 2.0, "4"):
        with pytest.raises(ValueError, match="size must be a positive int"):
            utils.check_size(bad)
    for bad in ((1, 2, 3), (0, 4), (2.5, 4), "ab", None, True):
        with pytest.raises(ValueError, match=r"size must be a positive int or a pair \(H, W\)"):
            utils.check_hw(bad)


def test_process_alive():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: its pid names no process now
    assert utils.process_alive(os.getpid()) and not utils.process_alive(child.pid)


def test_eval_mode_restores_each_models_own_mode_even_after_an_error():
    from torch import nn

    from pconv.utils import eval_mode

    training, frozen = nn.BatchNorm2d(2).train(), nn.BatchNorm2d(2).eval()
    with eval_mode(training, frozen, "not a module"):
        assert not training.training and not frozen.training
    assert training.training and not frozen.training
    try:
        with eval_mode(training):
            raise KeyError("boom")
    except KeyError:
        pass
    assert training.training
