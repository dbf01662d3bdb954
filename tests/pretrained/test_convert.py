"""pconv.pretrained.convert: the converted networks compute what the sources' networks compute, to 1e-6 in float64.

The references (tests/source_nets.py) write out naoto0804's and mmagic's forward passes from
their code. Random weights and BatchNorm statistics in each source's key layout and shapes
go through `from_state_dict`; the converted model must give the reference's output, mapped
to [0, 1] RGB, on random images and irregular masks.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from source_nets import (
    images_and_masks,
    mmagic_reference,
    mmagic_state_dict,
    naoto_reference,
    naoto_state_dict,
    rel_error,
)

from pconv.nn import PConvUNet, PConvUNetWithStem
from pconv.pretrained.convert import IMAGENET_MEAN, IMAGENET_STD, detect_source, from_state_dict, state_dict_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoints"  # written by the old code (README there)


# ---- the conversions ------------------------------------------------------------------------
@pytest.mark.parametrize(("layers", "size", "n"), [(4, 32, 3), (7, 128, 1)])
@pytest.mark.parametrize("old", [False, True], ids=["released", "first-net.py"])
def test_naoto_converts_exactly(layers, size, n, old):
    sd = naoto_state_dict(layers, seed=layers, old=old)
    model = from_state_dict(sd)
    assert isinstance(model, PConvUNet) and not model.training and model.layers == layers
    assert model.config["normalize"] == [list(IMAGENET_MEAN), list(IMAGENET_STD)]
    image, mask = images_and_masks(n, size, seed=layers)
    with torch.no_grad():
        output, _ = model(image, mask)
    ref = naoto_reference(sd, image, mask, layers)
    assert rel_error(output, ref) < 1e-6
    # The composite of `inpaint` is the reference's output under the holes, the image elsewhere.
    composite = torch.where(mask > 0, image, ref.clamp(0, 1))
    assert rel_error(model.inpaint(image, mask), composite) < 1e-6


@pytest.mark.parametrize(("layers", "size", "n"), [(4, 32, 3), (5, 64, 2), (7, 128, 1)])
def test_mmagic_converts_exactly_bgr_to_rgb(layers, size, n):
    sd = mmagic_state_dict(layers, seed=layers)
    model = from_state_dict(sd)
    assert model.layers == layers and model.config["normalize"] == [[0.5] * 3, [0.5] * 3]
    image, mask = images_and_masks(n, size, seed=layers)
    with torch.no_grad():
        output, _ = model(image, mask)
    ref = mmagic_reference(sd, image, mask, layers)
    assert rel_error(output, ref) < 1e-6
    # The channel order matters: the same weights read as RGB give another output.
    swapped = mmagic_reference(sd, image[:, [2, 1, 0]], mask, layers)[:, [2, 1, 0]]
    assert rel_error(output, swapped) > 1e-3


def test_pconv_state_dict_round_trips():
    torch.manual_seed(0)
    model = PConvUNet(layers=3, base_channels=8, max_channels=16).eval()
    with torch.no_grad():
        for bn in [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]:
            bn.running_mean.normal_()
            bn.running_var.uniform_(0.5, 2)
    again = from_state_dict(model.state_dict())
    assert again.config == model.config
    image, mask = images_and_masks(2, 16)
    image, mask = image.float(), mask.float()
    assert torch.equal(again(image, mask)[0], model(image, mask)[0])


def test_sources_are_detected_and_prefixes_dropped():
    naoto, mm = naoto_state_dict(4), mmagic_state_dict(4)
    assert detect_source(naoto) == "naoto" and detect_source(naoto_state_dict(4, old=True)) == "naoto"
    assert detect_source(state_dict_of(mm)) == "mmagic"
    assert detect_source(PConvUNet(layers=2, base_channels=4).state_dict()) == "pconv"
    bare = {k.removeprefix("generator."): v for k, v in mm.items() if k.startswith("generator.")}
    wrapped = {"meta": {"iter": 3}, "state_dict": {"module." + k: v for k, v in naoto.items()}}
    image, mask = images_and_masks(1, 32)
    for sd, ref in ((bare, mm), ({"n_iter": 1, "model": naoto, "optimizer": {}}, naoto), (wrapped, naoto)):
        assert torch.equal(from_state_dict(sd)(image, mask)[0], from_state_dict(ref)(image, mask)[0])


def test_unknown_layout_lists_keys_and_the_known_layouts():
    with pytest.raises(ValueError, match=r"no layout.*fc\.weight.*naoto.*mmagic.*pconv"):
        from_state_dict({"fc.weight": torch.ones(2, 2), "fc.bias": torch.ones(2)})
    with pytest.raises(ValueError, match="expected a state dict"):
        from_state_dict({"a": 1})
    with pytest.raises(ValueError, match="source must be one of naoto, mmagic, pconv"):
        from_state_dict(naoto_state_dict(4), source="nvidia")


def test_wrong_source_says_which_layout_it_is():
    with pytest.raises(ValueError, match="not in the mmagic layout.*pass source='naoto'"):
        from_state_dict(naoto_state_dict(4), source="mmagic")


def test_another_architecture_is_named_by_key():
    sd = naoto_state_dict(4)
    sd["enc_2.conv.input_conv.weight"] = sd["enc_2.conv.input_conv.weight"][:, :, :3, :3].contiguous()
    sd["enc_2.conv.mask_conv.weight"] = torch.ones_like(sd["enc_2.conv.input_conv.weight"])
    with pytest.raises(ValueError, match=r"another architecture: encoder\.1\.conv\.weight is \(128, 64, 3, 3\)"):
        from_state_dict(sd)
    eight = mmagic_state_dict(5)
    del eight["generator.decoder.dec5.conv.weight"]  # 5 encoder layers, 4 decoder layers
    with pytest.raises(ValueError, match=r"no 'decoder\.dec5\.conv\.weight'.*layers=5"):
        from_state_dict(eight)
    extra = naoto_state_dict(4)
    extra["enc_1.attention.weight"] = torch.ones(1)
    with pytest.raises(ValueError, match=r"keys the paper's network does not: enc_1\.attention\.weight"):
        from_state_dict(extra)
    broken = naoto_state_dict(4)
    broken["dec_2.conv.mask_conv.weight"][0, 0, 0, 0] = 0.5
    with pytest.raises(ValueError, match="dec_2.conv.mask_conv.weight is not the all-ones mask kernel"):
        from_state_dict(broken)
    old_stem = torch.load(FIXTURES / "pconv_stem.pt", weights_only=True)["model"]  # a bare stem state dict, old keys
    with pytest.raises(ValueError, match="stem and head.*PConvUNetWithStem.*load the checkpoint file"):
        from_state_dict(old_stem)
    with pytest.raises(ValueError, match="no layout pconv knows"):  # today's keys (body.encoder.0...)
        from_state_dict(PConvUNetWithStem(layers=2, base_channels=4, stem_channels=4).state_dict())


def test_float32_state_dicts_give_float32_models():
    sd = {k: v.float() if v.is_floating_point() else v for k, v in mmagic_state_dict(4).items()}
    model = from_state_dict(sd)
    assert next(model.parameters()).dtype == torch.float32
    image, mask = images_and_masks(1, 32)
    ref = mmagic_reference(mmagic_state_dict(4), image, mask, 4)
    with torch.no_grad():
        output, _ = model(image.float(), mask.float())
    assert rel_error(output.double(), ref) < 1e-5
