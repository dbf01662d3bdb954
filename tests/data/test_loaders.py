"""pconv.data.loaders: DataLoader workers that never fork (spawn / forkserver), the same batches as without workers."""

from __future__ import annotations

import itertools
import os
import sys
import types
import warnings

import pytest
import torch
from tiny_run import Pairs, TinyInpaint, cfg, l1_terms
from torch.utils.data import Dataset

from pconv.data import default_num_workers, endless_batches, make_loader, sample_inpainting_data
from pconv.data import loaders as _loop
from pconv.train import Trainer


def test_workers_start_without_fork():
    expected = "forkserver" if sys.platform.startswith("linux") else "spawn"
    loader = make_loader(Pairs(), 2, 2, False, seed=0)
    assert loader.num_workers == 2 and loader.multiprocessing_context.get_start_method() == expected
    assert make_loader(Pairs(), 2, 0, False, seed=0).multiprocessing_context is None  # no workers, no processes


@pytest.fixture
def spawn(monkeypatch):
    """Start workers as macOS and Windows do, and as Python 3.14's forkserver needs: from a fresh interpreter."""
    monkeypatch.setattr(_loop, "WORKER_START", "spawn")


def test_workers_under_spawn_read_the_same_batches_as_the_main_process(spawn):
    train, _ = sample_inpainting_data(32, train_length=8, val_length=2, masks=100, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        in_workers = list(itertools.islice(endless_batches(train, 2, 0, 0, num_workers=2), 3))
    in_main = list(itertools.islice(endless_batches(train, 2, 0, 0, num_workers=0), 3))
    for a, b in zip(in_workers, in_main, strict=True):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["mask"], b["mask"])
    assert not [w for w in caught if "fork" in str(w.message)], [str(w.message) for w in caught]


def test_training_with_spawned_workers_matches_training_without(tmp_path, spawn):
    train, val = sample_inpainting_data(32, train_length=8, val_length=2, masks=100, seed=0)
    weights = []
    for n in (0, 2):
        torch.manual_seed(0)
        t = Trainer(TinyInpaint(), l1_terms, cfg(tmp_path / str(n), steps=2, batch_size=2, num_workers=n))
        t.fit(train, val)
        weights.append(t.model.state_dict())
    for k, v in weights[0].items():
        assert torch.equal(v, weights[1][k]), k


def test_a_dataset_workers_cannot_rebuild_is_read_in_the_main_process(spawn):
    class Local(Dataset):  # defined in a function: worker processes cannot import it
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return {"image": torch.full((3, 4, 4), float(i)), "mask": torch.ones(1, 4, 4)}

    with pytest.warns(UserWarning, match="main process") as caught:
        loader = make_loader(Local(), 2, 2, False, seed=0)
    assert loader.num_workers == 0 and "Local" in str(caught[0].message)
    assert [b["image"][:, 0, 0, 0].tolist() for b in loader] == [[0.0, 1.0], [2.0, 3.0]]


def test_a_dataset_defined_in_a_notebook_is_read_in_the_main_process(monkeypatch, spawn):
    notebook = types.ModuleType("__main__")  # an interactive __main__ has no __file__ to re-import
    cls = type("CellDataset", (Pairs,), {"__module__": "__main__"})
    notebook.CellDataset = cls
    monkeypatch.setitem(sys.modules, "__main__", notebook)
    with pytest.warns(UserWarning, match="CellDataset is defined in the notebook"):
        loader = make_loader(cls(n=4), 2, 2, False, seed=0)
    assert loader.num_workers == 0


def test_default_num_workers(monkeypatch):
    assert default_num_workers() >= 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(2)), raising=False)
    assert default_num_workers() == 0
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert default_num_workers() == 4  # also in Jupyter: make_loader never forks, and falls back for cell classes
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(3)), raising=False)
    assert default_num_workers() == 2
