"""TrainConfig: the lr schedule, plain-dict round trips and a clear error for every bad setting."""

from __future__ import annotations

import math
import os

import pytest
from tiny_run import cfg

from pconv.config import ConfigError, TrainConfig


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
    ("seed", -1, "int >= 0"),
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
    import numpy as np

    assert TrainConfig(steps=np.int64(3), lr=np.float32(1e-3)).steps == 3  # numpy scalars are numbers too


def test_changes_since_a_saved_config_names_what_shapes_the_run():
    saved = TrainConfig(steps=10, lr=1e-3, batch_size=4, log_every=5).to_dict()
    now = TrainConfig(steps=20, lr=2e-3, batch_size=4, log_every=1)  # steps and log_every may change on resume
    assert now.changes_since(saved) == {"lr": (2e-3, 1e-3)}
    assert now.changes_since({}) == {}  # an old checkpoint without a config
