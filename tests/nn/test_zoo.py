"""Tests for pconv.nn.zoo: the table of classes a checkpoint can name (`MODELS`).

Every entry is keyed by its class's own name and rebuilds from its `config`, so a checkpoint
that records (class name, constructor arguments) always finds its class here.
"""

from __future__ import annotations

import pytest
import torch

import pconv.nn
from pconv.nn import MODELS, Inpainter, PConvUNet, PConvUNetWithStem, UNet

SMALL = {
    "PConvUNet": dict(layers=2, base_channels=4),
    "PConvUNetWithStem": dict(layers=2, base_channels=4, stem_channels=4),
    "UNet": dict(features=(4, 8)),
}


def test_every_network_of_the_room_is_in_the_table_under_its_own_name():
    assert MODELS == {"PConvUNet": PConvUNet, "PConvUNetWithStem": PConvUNetWithStem, "UNet": UNet}
    assert all(name == cls.__name__ for name, cls in MODELS.items())
    exported = [getattr(pconv.nn, name) for name in pconv.nn.__all__]
    inpainters = {
        c.__name__ for c in exported if isinstance(c, type) and issubclass(c, Inpainter) and c is not Inpainter
    }
    assert inpainters <= set(MODELS)  # a public inpainting network that no checkpoint could name: add it


@pytest.mark.parametrize("name", sorted(MODELS))
def test_every_entry_rebuilds_from_its_config(name):
    model = MODELS[name](**SMALL[name])
    twin = MODELS[type(model).__name__](**model.config)
    assert type(twin) is type(model) and twin.config == model.config
    twin.load_state_dict(model.state_dict())  # the same parameters, by name and shape
    assert all(torch.equal(a, b) for a, b in zip(twin.state_dict().values(), model.state_dict().values()))
