"""pconv.nn.input_checks: the inpainting network's entry checks and its `normalize` argument, each error path."""

from __future__ import annotations

import pytest
import torch

from pconv.nn.input_checks import IMAGE_RANGE_SLACK, check_image_and_mask, check_image_and_mask_values, normalize_config


def test_normalize_config_gives_plain_lists_per_channel():
    assert normalize_config(None, 3) is None
    assert normalize_config((0.5, 0.5), 3) == [[0.5] * 3, [0.5] * 3]  # one float for every channel
    assert normalize_config([(0.1, 0.2), (1, 2)], 2) == [[0.1, 0.2], [1.0, 2.0]]
    got = normalize_config(torch.tensor([[0.25, 0.5, 0.75], [1.0, 2.0, 4.0]]), 3)
    assert got == [[0.25, 0.5, 0.75], [1.0, 2.0, 4.0]] and all(type(v) is float for v in got[0] + got[1])


@pytest.mark.parametrize(
    "normalize, match",
    [
        ((0.5,), "must be None or \\(mean, std\\)"),
        ("imagenet", "must be None or \\(mean, std\\)"),
        (0.5, "must be None or \\(mean, std\\)"),
        (((0.5, 0.5), 0.5), "mean must be a finite float or 3 finite floats"),
        ((0.5, float("nan")), "std must be a finite float"),
        ((0.5, "1"), "std must be a finite float"),  # a string is not a number, even one that parses
        ((0.5, (1.0, 0.0, 1.0)), "std must be > 0"),
    ],
)
def test_normalize_config_errors(normalize, match):
    with pytest.raises(ValueError, match=match):
        normalize_config(normalize, 3)


def test_shape_errors_say_what_to_do():
    image, mask = torch.rand(2, 3, 8, 8), torch.ones(2, 1, 8, 8)
    check_image_and_mask(image, mask, 3)
    check_image_and_mask(image, mask[:1], 3)  # a mask for the whole batch
    cases = [
        ((image[0], mask), "image must be \\(N, 3, H, W\\).*image\\[None\\].*inpaint"),
        ((image.to(torch.uint8), mask), "float"),
        ((image, mask[:, 0]), "mask must be \\(N, 1, H, W\\)"),
        ((image, "mask"), "mask must be .* got str"),
        ((image, torch.ones(3, 1, 8, 8)), "does not match"),
        ((torch.rand(1, 3, 0, 8), torch.ones(1, 1, 0, 8)), "no pixels"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=match):
            check_image_and_mask(*args, 3)


def test_value_checks_refuse_only_what_is_wrong():
    mask = torch.ones(1, 1, 4, 4)
    ok = torch.rand(1, 3, 4, 4)
    check_image_and_mask_values(ok, mask)
    edge = ok.clone()
    edge[..., 0, 0], edge[..., 0, 1] = -IMAGE_RANGE_SLACK, 1 + IMAGE_RANGE_SLACK  # the limits themselves pass
    check_image_and_mask_values(edge, mask)
    for value, match in [
        (1 + IMAGE_RANGE_SLACK + 0.01, "known pixels span .*1.51.*by 255"),
        (-IMAGE_RANGE_SLACK - 0.01, "known pixels span \\[-0.51"),
        (float("nan"), "NaN or inf at known pixels"),
        (float("-inf"), "NaN or inf at known pixels"),
    ]:
        bad = ok.clone()
        bad[..., 1, 2] = value
        with pytest.raises(ValueError, match=match):
            check_image_and_mask_values(bad, mask)
    for value in (0.5, -1.0, 2.0, float("nan")):
        bad_mask = mask.clone()
        bad_mask[..., 3, 3] = value
        with pytest.raises(ValueError, match="mask must be binary"):
            check_image_and_mask_values(ok, bad_mask)
    half = ok.to(torch.bfloat16)  # low-precision images are checked the same way
    check_image_and_mask_values(half, mask)
    with pytest.raises(ValueError, match="span"):
        check_image_and_mask_values(half * 255, mask)
