"""TrainConfig: the lr schedule, plain-dict round trips and a clear error for every bad setting."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch
from tiny_run import cfg

from pconv.train import SEED_MAX, ConfigError, TrainConfig, config


def test_lr_schedule():
    c = TrainConfig(steps=10, lr=1.0, warmup_steps=2, schedule="cosine", finetune_steps=2, finetune_lr=0.01)
    lrs = [c.lr_at(s) for s in range(10)]
    assert lrs[:2] == [0.5, 1.0] and lrs[-2:] == [0.01, 0.01]
    assert all(a >= b for a, b in zip(lrs[1:8], lrs[2:8])) and lrs[7] > 0.1
    with pytest.raises(ValueError, match="finetune_steps"):
        TrainConfig(steps=3, finetune_steps=4)


def test_config_to_dict_is_plain(tmp_path):
    d = cfg(tmp_path).to_dict()
    assert all(v is None or isinstance(v, (int, float, str, bool)) for v in d.values())
    assert os.fspath(d["out"]).endswith("run")
    assert TrainConfig.from_dict({**d, "model": {"name": "X"}, "task": "inpainting"}) == cfg(tmp_path)


def test_config_size_accepts_a_pair_as_a_plain_list():
    assert TrainConfig(size=(160, 240)).size == [160, 240]
    assert TrainConfig.from_dict(TrainConfig(size=(160, 240)).to_dict()).size == [160, 240]
    with pytest.raises(ValueError, match="size must be"):
        TrainConfig(size=(1, 2, 3))


BAD = [
    ("lr", math.inf, "finite number > 0"),
    ("lr", math.nan, "finite number > 0"),
    ("lr", -1e-3, "finite number > 0"),
    ("lr", 0.0, "finite number > 0"),
    ("lr", "fast", "finite number > 0"),
    ("finetune_lr", math.inf, "finite number > 0"),
    ("grad_clip", 0.0, "finite number > 0"),
    ("grad_clip", math.nan, "finite number > 0"),
    ("steps", 0, "int >= 1"),
    ("steps", 2.5, "int >= 1"),
    ("steps", True, "int >= 1"),
    ("batch_size", 0, "int >= 1"),
    ("batch_size", -4, "int >= 1"),
    ("keep_last", 0, "int >= 1"),
    ("num_workers", -1, "int >= 0"),
    ("num_workers", 1.5, "int >= 0"),
    ("warmup_steps", -1, "int >= 0"),
    ("seed", -1, r"int in \[0, 9223372036854775807\]"),
    ("seed", 2**63, r"int in \[0, 9223372036854775807\]"),
    ("seed", 99999999999999999999, r"int in \[0, "),
    ("warmup_steps", 5, r"int in \[0, steps - finetune_steps = 4\]"),
    ("val_batches", 0, "int >= 1"),
    ("max_bad_steps", 0, "int >= 1"),
    ("log_every", 0, "int >= 1"),
    ("checkpoint_every", -5, "int >= 1"),
    ("size", 0, "size must be"),
    ("size", [32, 0], "size must be"),
    ("schedule", "zigzag", "'constant' or 'cosine'"),
    ("finetune_steps", 5, r"\[0, steps=4\]"),
    ("amp", "yes", "True, False or None"),
    ("device", 3, "a device name"),
]


@pytest.mark.parametrize("name, value, message", BAD, ids=[f"{n}={v!r}" for n, v, _ in BAD])
def test_every_bad_setting_is_refused_with_its_name(name, value, message):
    with pytest.raises(ConfigError, match=message) as e:
        TrainConfig(**{"steps": 4, name: value})
    assert e.value.field == name and f"TrainConfig.{name}" in str(e.value) and repr(value) in str(e.value)
    assert isinstance(e.value, ValueError)


def test_good_edge_values_pass():
    c = TrainConfig(steps=1, batch_size=1, lr=1e-9, keep_last=1, num_workers=0, seed=0, warmup_steps=0)
    assert (c.steps, c.num_workers, c.grad_clip, c.amp) == (1, 0, None, None)
    assert TrainConfig(steps=np.int64(3), lr=np.float32(1e-3)).steps == 3  # numpy scalars are numbers too


def test_changes_since_a_saved_config_names_what_shapes_the_run():
    saved = TrainConfig(steps=10, lr=1e-3, batch_size=4, log_every=5).to_dict()
    now = TrainConfig(steps=20, lr=2e-3, batch_size=4, log_every=1)  # steps and log_every may change on resume
    assert now.changes_since(saved) == {"lr": (2e-3, 1e-3)}
    assert now.changes_since({}) == {}  # an old checkpoint without a config


def test_num_workers_above_the_cpu_count_is_capped_with_a_note(caplog, monkeypatch):
    """Issue 23: --num-workers 100000 was accepted and no step ran; 64 workers on 2 CPUs thrashed."""
    monkeypatch.setattr(config, "cpu_count", lambda: 3)
    with caplog.at_level("WARNING", logger="pconv.train.trainer"):
        for asked in (4, 64, 100_000):
            assert TrainConfig(num_workers=asked).num_workers == 3
    assert len(caplog.records) == 3 and "more than the 3 CPUs" in caplog.records[0].getMessage()
    caplog.clear()
    with caplog.at_level("WARNING", logger="pconv.train.trainer"):
        assert [TrainConfig(num_workers=n).num_workers for n in (None, 0, 3)] == [None, 0, 3]
    assert not caplog.records  # within the CPU count: as given, no note
    monkeypatch.undo()
    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert config.cpu_count() == expected >= 1


def test_warmup_must_fit_in_the_main_phase_and_seeds_fit_torch():
    """A warm-up longer than the run never reaches `lr`; a seed beyond torch's 64 bits overflowed mid-run."""
    c = TrainConfig(steps=10, finetune_steps=4, warmup_steps=6, lr=1.0)
    assert c.lr_at(5) == 1.0  # the last main-phase step reaches the peak
    for steps, finetune, warmup in ((5, 0, 100), (10, 4, 7), (1, 0, 2)):
        with pytest.raises(ConfigError, match="steps - finetune_steps") as e:
            TrainConfig(steps=steps, finetune_steps=finetune, warmup_steps=warmup)
        assert e.value.field == "warmup_steps"
    c = TrainConfig(seed=SEED_MAX)
    torch.manual_seed(c.seed + 1)  # the largest seed, plus a rank or an offset, still seeds torch
    with pytest.raises(ConfigError, match="seed"):
        TrainConfig(seed=SEED_MAX + 1)


def test_from_dict_fits_a_saved_config_to_this_machine_quietly(caplog, monkeypatch):
    """A checkpoint from a 64-CPU machine, or from before warm-ups were checked, still loads, with no note."""
    monkeypatch.setattr(config, "cpu_count", lambda: 2)
    saved = {**TrainConfig(steps=5).to_dict(), "num_workers": 64, "warmup_steps": 100, "finetune_steps": 1}
    with caplog.at_level("WARNING", logger="pconv.train.trainer"):
        c = TrainConfig.from_dict(saved)
    assert (c.num_workers, c.warmup_steps, c.steps) == (2, 4, 5) and not caplog.records
    with pytest.raises(ConfigError, match="warmup_steps"):  # given, not saved: refused
        TrainConfig(**{**saved, "num_workers": 0})
    with pytest.raises(ConfigError, match="finetune_steps"):  # other bad settings stay bad
        TrainConfig.from_dict({**saved, "finetune_steps": 9})
