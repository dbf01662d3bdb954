"""PartialConv2d against the paper's formula (arXiv:1804.07723, eq. 1-2) written plainly in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pconv.nn import PartialConv2d, partial_conv2d


def reference(x, mask, weight, bias, stride, padding, dilation, groups):
    """Eq. 1-2 with a full (N, C_in, H, W) mask, by unfolding windows; float64 throughout."""
    x, mask, weight = x.double(), mask.double().expand_as(x), weight.double()
    n, c_in, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    cols = F.unfold(x * mask, (kh, kw), dilation=dilation, padding=padding, stride=stride)  # (N, C_in*kh*kw, L)
    valid = F.unfold(mask, (kh, kw), dilation=dilation, padding=padding, stride=stride).sum(1)  # S: (N, L)
    k = c_in * kh * kw
    gi, go = c_in // groups, c_out // groups
    out = []
    for g in range(groups):  # a grouped conv is one matmul per group
        wg = weight[g * go : (g + 1) * go].reshape(go, -1)  # (go, gi*kh*kw)
        out.append(wg @ cols[:, g * gi * kh * kw : (g + 1) * gi * kh * kw])  # (N, go, L)
    out = torch.cat(out, 1)
    scale = torch.where(valid > 0, k / valid.clamp(min=1), torch.zeros_like(valid))
    out = out * scale[:, None]
    if bias is not None:
        out = out + bias.double()[None, :, None] * (valid > 0)[:, None]
    ho = (h + 2 * padding - dilation * (kh - 1) - 1) // stride + 1
    wo = (w + 2 * padding - dilation * (kw - 1) - 1) // stride + 1
    return out.reshape(n, c_out, ho, wo), (valid > 0).double().reshape(n, 1, ho, wo)


def random_case(rng: np.random.Generator):
    k = int(rng.integers(1, 8))
    dilation = int(rng.integers(1, 3))
    padding = int(rng.integers(0, dilation * (k - 1) // 2 + 2))
    stride = int(rng.integers(1, 4))
    groups = int(rng.choice([1, 1, 2]))
    c_in, c_out = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    size = dilation * (k - 1) + 1 + int(rng.integers(0, 8))
    n = int(rng.integers(1, 3))
    kind = str(rng.choice(["single", "broadcast", "multi", "none"]))
    hole = float(rng.choice([0.2, 0.6, 0.95]))
    return {
        "k": k, "dilation": dilation, "padding": padding, "stride": stride, "groups": groups,
        "c_in": c_in, "c_out": c_out, "size": size, "n": n, "kind": kind, "hole": hole,
        "bias": bool(rng.integers(0, 2)),
    }  # fmt: skip


def test_matches_reference_over_random_configs():
    rng = np.random.default_rng(0)
    gen = torch.Generator().manual_seed(0)
    saw_empty = 0
    for _ in range(120):
        c = random_case(rng)
        layer = PartialConv2d(
            c["c_in"],
            c["c_out"],
            c["k"],
            c["stride"],
            c["padding"],
            c["dilation"],
            c["groups"],
            c["bias"],
            multi_channel=c["kind"] == "multi",
        )
        x = torch.randn(c["n"], c["c_in"], c["size"], c["size"] + 1, generator=gen)
        mchan = c["c_in"] if c["kind"] == "multi" else 1
        mn = 1 if c["kind"] == "broadcast" else c["n"]
        mask = (torch.rand(mn, mchan, *x.shape[-2:], generator=gen) > c["hole"]).float()
        if c["kind"] == "none":
            mask = None
        out, new_mask = layer(x, mask)
        full = torch.ones_like(x) if mask is None else mask
        ref, ref_mask = reference(
            x,
            full,
            layer.weight.detach(),
            layer.bias,
            c["stride"],
            c["padding"],
            c["dilation"],
            c["groups"],
        )
        assert out.shape == ref.shape and new_mask.shape == ref_mask.shape, c
        assert torch.equal(new_mask.double(), ref_mask), c
        torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5, msg=str(c))
        saw_empty += int((ref_mask == 0).any())
    assert saw_empty > 10  # windows without any valid input were exercised


def test_output_ignores_values_under_holes():
    gen = torch.Generator().manual_seed(1)
    layer = PartialConv2d(3, 4, 5, stride=2, padding=2)
    x = torch.rand(2, 3, 16, 16, generator=gen)
    mask = (torch.rand(2, 1, 16, 16, generator=gen) > 0.5).float()
    junk = torch.where(mask > 0, x, 1e6 * torch.randn(x.shape, generator=gen))
    assert torch.equal(layer(x, mask)[0], layer(junk, mask)[0])


def test_all_valid_interior_is_plain_conv_and_border_ratios():
    layer = PartialConv2d(2, 3, 3, padding=1)
    x = torch.randn(1, 2, 6, 7)
    plain = F.conv2d(x, layer.weight, layer.bias, padding=1)
    for mask in (None, torch.ones(1, 1, 6, 7)):
        out, new_mask = layer(x, mask)
        assert torch.equal(new_mask, torch.ones(1, 1, 6, 7))
        torch.testing.assert_close(out[..., 1:-1, 1:-1], plain[..., 1:-1, 1:-1])
    # ones in, ones kernel, no bias: the plain conv counts the in-image inputs, the
    # partial conv rescales to the full window, so the ratio is 9/4, 9/6, 9/9.
    ones = PartialConv2d(1, 1, 3, padding=1, bias=False)
    ones.weight.data.fill_(1.0)
    y = torch.ones(1, 1, 5, 5)
    ratio = ones(y)[0] / F.conv2d(y, ones.weight, padding=1)
    assert ratio[0, 0, 0, 0] == 2.25 and ratio[0, 0, 0, 2] == 1.5 and ratio[0, 0, 2, 2] == 1.0


def test_stateless_between_calls():
    layer = PartialConv2d(3, 2, 3, padding=1)
    x = torch.randn(2, 3, 8, 8)
    mask = (torch.rand(2, 1, 8, 8) > 0.5).float()
    first_masked, first_plain = layer(x, mask)[0], layer(x)[0]
    layer(torch.randn(1, 3, 12, 10), torch.zeros(1, 1, 12, 10))  # another size, all holes
    assert torch.equal(layer(x)[0], first_plain)
    assert torch.equal(layer(x, mask)[0], first_masked)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_autocast_cpu_finite_and_close(dtype):
    layer = PartialConv2d(8, 8, 7, stride=2, padding=3)
    x = torch.rand(2, 8, 32, 32)
    mask = torch.ones(2, 1, 32, 32)
    mask[:, :, 4:28, 4:28] = 0  # big hole: windows with one valid pixel (ratio K/1) and none
    ref, ref_mask = layer(x, mask)
    try:
        with torch.autocast("cpu", dtype=dtype):
            out, new_mask = layer(x, mask)
    except RuntimeError as err:  # an old CPU build without fp16 kernels
        pytest.skip(f"autocast {dtype} unsupported on this CPU build: {err}")
    assert out.dtype == dtype and new_mask.dtype == torch.float32
    assert torch.isfinite(out).all() and torch.equal(new_mask, ref_mask)
    assert (ref_mask == 0).any() and (out[new_mask.expand_as(out) == 0] == 0).all()
    torch.testing.assert_close(out.float(), ref, rtol=0.05, atol=0.05 * ref.abs().max().item())
    out.float().sum().backward()
    assert torch.isfinite(layer.weight.grad).all() and layer.bias.grad.dtype == torch.float32


def test_gradcheck_and_no_grad_to_mask():
    torch.manual_seed(0)
    layer = PartialConv2d(2, 2, 3, stride=1, padding=1).double()
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    mask = (torch.rand(1, 1, 5, 5) > 0.4).double().requires_grad_()

    def fn(x, weight, bias):
        return partial_conv2d(x, mask, weight, bias, padding=1)[0]

    assert torch.autograd.gradcheck(fn, (x, layer.weight, layer.bias))
    out, new_mask = layer(x, mask)
    assert not new_mask.requires_grad
    out.sum().backward()
    assert mask.grad is None
    assert (x.grad[mask.expand_as(x) == 0] == 0).all()  # inputs under holes get no gradient


def test_state_dict_has_weights_only():
    assert set(PartialConv2d(3, 4, 3).state_dict()) == {"weight", "bias"}
    assert set(PartialConv2d(3, 4, 3, bias=False, multi_channel=True).state_dict()) == {"weight"}
    assert list(PartialConv2d(3, 4, 3).buffers()) == []


def test_parts_equal_multichannel_concatenation():
    gen = torch.Generator().manual_seed(2)
    a, b = (
        torch.randn(2, 5, 9, 9, generator=gen),
        torch.randn(2, 3, 9, 9, generator=gen),
    )
    ma = (torch.rand(2, 1, 9, 9, generator=gen) > 0.7).float()
    mb = (torch.rand(1, 1, 9, 9, generator=gen) > 0.5).float()  # batch-broadcast part mask
    layer = PartialConv2d(8, 4, 3, stride=2, padding=1, multi_channel=True)
    full = torch.cat([ma.expand(2, 5, 9, 9), mb.expand(2, 3, 9, 9)], 1)
    want, want_mask = layer(torch.cat([a, b], 1), full)
    got, got_mask = layer((a, b), (ma, mb))
    assert torch.equal(got_mask, want_mask)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    mbc = (torch.rand(2, 3, 9, 9, generator=gen) > 0.5).float()  # a multi-channel part mask
    want = layer(torch.cat([a, b], 1), torch.cat([ma.expand(2, 5, 9, 9), mbc], 1))[0]
    torch.testing.assert_close(layer([a, b], [ma, mbc])[0], want, rtol=1e-6, atol=1e-6)


def test_functional_equals_module_and_premasked():
    layer = PartialConv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2)
    x = torch.randn(2, 4, 11, 10)
    mask = (torch.rand(2, 1, 11, 10) > 0.5).float()
    out, new_mask = layer(x, mask)
    f_out, f_mask = partial_conv2d(x, mask, layer.weight, layer.bias, 2, 2, 2, 2)
    assert torch.equal(out, f_out) and torch.equal(new_mask, f_mask)
    assert torch.equal(layer(x * mask, mask, premasked=True)[0], out)


def test_same_padding_string_and_broadcast_mask():
    layer = PartialConv2d(2, 2, 5, padding="same", dilation=2)
    x = torch.randn(3, 2, 10, 10)
    mask = (torch.rand(1, 1, 10, 10) > 0.5).float()
    out, new_mask = layer(x, mask)
    ref, ref_mask = reference(x, mask, layer.weight.detach(), layer.bias, 1, 4, 2, 1)
    assert out.shape == (3, 2, 10, 10) and torch.equal(new_mask.double(), ref_mask)
    torch.testing.assert_close(out.double(), ref, rtol=1e-5, atol=1e-5)


def test_errors_name_the_argument():
    layer = PartialConv2d(4, 2, 3)
    x = torch.randn(1, 4, 8, 8)
    with pytest.raises(ValueError, match="multi_channel=False"):
        layer(x, torch.ones(1, 4, 8, 8))
    with pytest.raises(ValueError, match="mask must be"):
        layer(x, torch.ones(1, 1, 7, 8))
    with pytest.raises(ValueError, match="one mask per part"):
        layer((x[:, :2], x[:, 2:]), (torch.ones(1, 1, 8, 8),))
    with pytest.raises(ValueError, match="channels"):
        layer(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="x must be"):
        layer([])


@pytest.mark.parametrize("junk", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_inf_under_holes_do_not_leak(junk):
    gen = torch.Generator().manual_seed(3)
    layer = PartialConv2d(3, 4, 3, stride=2, padding=1)
    x = torch.rand(2, 3, 12, 12, generator=gen)
    mask = torch.ones(2, 1, 12, 12)
    mask[:, :, 3:9, 2:10] = 0
    dirty = torch.where(mask > 0, x, junk)
    out, new_mask = layer(dirty, mask)
    assert torch.isfinite(out).all()
    assert torch.equal(out, layer(x, mask)[0]) and torch.equal(new_mask, layer(x, mask)[1])
    parts = layer((dirty[:, :1], dirty[:, 1:]), (mask, mask))[0]  # the parts path selects too
    torch.testing.assert_close(parts, out)
    dirty.requires_grad_()
    layer(dirty, mask)[0].sum().backward()
    assert torch.isfinite(dirty.grad).all() and (dirty.grad[mask.expand_as(x) == 0] == 0).all()


@pytest.mark.parametrize("bad", [0.5, -1.0, 2.0, float("nan"), float("inf")])
def test_non_binary_masks_are_rejected(bad):
    layer = PartialConv2d(2, 2, 3, padding=1, multi_channel=True)
    x = torch.rand(1, 2, 6, 6)
    mask = torch.ones(1, 1, 6, 6)
    mask[..., 2, 3] = bad
    with pytest.raises(ValueError, match="mask must be binary"):
        layer(x, mask)
    with pytest.raises(ValueError, match="mask must be binary"):
        partial_conv2d(x, mask, layer.weight, layer.bias, padding=1)
    with pytest.raises(ValueError, match="mask part 1 must be binary"):
        layer((x[:, :1], x[:, 1:]), (torch.ones(1, 1, 6, 6), mask))
    with pytest.raises(ValueError, match="mask must be binary"):
        layer(x, mask.expand(1, 2, 6, 6))  # a multi-channel mask
    layer(x, mask, check_mask=False)  # the caller vouches for the mask: no check, no error


def test_binary_masks_of_any_dtype_pass_the_check():
    layer = PartialConv2d(2, 2, 3, padding=1)
    x = torch.rand(1, 2, 6, 6)
    mask = (torch.rand(1, 1, 6, 6) > 0.5).float()
    want = layer(x, mask)[0]
    for m in (mask.double(), mask.half(), mask.bool(), torch.zeros(1, 1, 6, 6), torch.ones(1, 1, 6, 6)):
        layer(x, m)
    assert torch.equal(layer(x, mask.bool())[0], want)
