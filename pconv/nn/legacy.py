"""Checkpoints written before `PConvUNet` became a plain class, translated to today's classes.

Until 2026-12-07 `PConvUNet(..., stem_channels=0, residual=False, ...)` carried two options
that are not in the paper (Liu et al. 2018, arXiv:1804.07723), and a call that set either
built a `PConvUNetPlus`. Checkpoints record the class name and the constructor's arguments
(`pconv.train.model_info`), so those files name `PConvUNet` or `PConvUNetPlus` with
`stem_channels` and `residual` among the arguments. Today:

- `stem_channels > 0` is `pconv.nn.pconv_unet.PConvUNetWithStem`: the same stem and head, with
  the paper's U-Net as its `body` (state-dict keys `encoder.*` -> `body.encoder.*`,
  `decoder.*` -> `body.decoder.*`; the parameter order is unchanged, so saved optimizer
  state still fits).
- `residual=True` is gone: trained over `harmonic_fill`, the network learned no correction
  that helps on held-out photos (benchmarks/RESULTS.md, "Quality", 2026-12-01). Such
  checkpoints are refused with a message that says so and what to use instead.

Checkpoints written before the convolution became a choice (`conv`, `hole_value`,
`mask_channel`; `pconv.nn.conv_variants`) record none of the three and need no translation:
today's classes rebuild them with the defaults, the paper's partial-convolution network, which
is what they hold.

Fixtures written by the old code, and the test that they still load and compute the same,
are in tests/fixtures/checkpoints/ and tests/nn/test_legacy.py.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["upgrade_model_info"]

_OLD_NAMES = ("PConvUNet", "PConvUNetPlus")
_BODY = ("encoder.", "decoder.")  # the U-Net's keys, which moved under `body.`

RESIDUAL_REMOVED = (
    "this checkpoint holds a PConvUNet built with residual=True (a correction over "
    "pconv.evaluation.baselines.harmonic_fill), an option pconv no longer has: the network learned no correction "
    "that helps on held-out photos (benchmarks/RESULTS.md, 'Quality', 2026-12-01: residual=True without "
    "a stem scored 31.67 / 26.83 / 24.83 / 23.28 / 23.61 / 20.64 dB over the six hole bins, the harmonic "
    "fill alone 31.77 / 27.00 / 24.85 / 23.30 / 23.52 / 20.74). Use the 'harmonic' fill "
    "(pconv.evaluation.baselines.harmonic) for the same results, or train a PConvUNet or PConvUNetWithStem"
)


def upgrade_model_info(
    info: Mapping[str, Any], state_dict: Mapping[str, Any]
) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """A checkpoint's model, as today's class name, constructor arguments and state dict.

    Checkpoints of today's classes (and of `UNet`) come back unchanged, so this can be
    called on every checkpoint before `getattr(pconv.nn.pconv_unet, name)(**kwargs)`.

    Args:
        info: the checkpoint's `config["model"]`: {"name": class name, "kwargs": arguments}.
        state_dict: the checkpoint's `"model"` (may be empty when only the class is wanted).

    Returns:
        (name, kwargs, state_dict): new dicts; the tensors are the checkpoint's own, not copies.

    Raises:
        ValueError: the checkpoint was built with `residual=True`, which was removed (the
            message gives the figure that says why, and what to use instead).
    """
    name = str(info.get("name"))
    kwargs = dict(info.get("kwargs") or {})
    legacy = name == "PConvUNetPlus" or (name == "PConvUNet" and ({"stem_channels", "residual"} & set(kwargs)))
    if not legacy:
        return name, kwargs, _renamed(state_dict, lambda key: key)
    stem_channels = int(kwargs.pop("stem_channels", 0) or 0)
    if kwargs.pop("residual", False):
        raise ValueError(RESIDUAL_REMOVED)
    if not stem_channels:
        return "PConvUNet", kwargs, _renamed(state_dict, lambda key: key)  # the paper's network: same keys
    kwargs = {"in_channels": kwargs.pop("in_channels", 3), "stem_channels": stem_channels, **kwargs}
    return (
        "PConvUNetWithStem",
        kwargs,
        _renamed(state_dict, lambda key: "body." + key if key.startswith(_BODY) else key),
    )


def _renamed(state_dict: Mapping[str, Any], rename: Callable[[str], str]) -> dict[str, Any]:
    """A new state dict with each key renamed, keeping the per-module `_metadata` that
    `nn.Module.state_dict` attaches (BatchNorm reads its version from it when loading)."""
    out: OrderedDict[str, Any] = OrderedDict((rename(k), v) for k, v in state_dict.items())
    meta = getattr(state_dict, "_metadata", None)
    if meta is not None:  # keys are module prefixes without the trailing dot ("" is the root)
        out._metadata = OrderedDict((rename(k + ".")[:-1] if k else k, v) for k, v in meta.items())  # type: ignore[attr-defined]
    return out
