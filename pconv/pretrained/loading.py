"""Building the model from a checkpoint: `load_pretrained`.

`load_pretrained` takes a name in `PRETRAINED` (its file from `pconv.pretrained.cache`:
downloaded once, checked) or a file: naoto0804's, mmagic's (converted exactly by
`pconv.pretrained.convert`) or pconv's own checkpoint (`pconv.train.model_from_checkpoint`),
read safely by `pconv.pretrained.files.read_weights`, and returns the paper's network
(Liu et al. 2018, arXiv:1804.07723) in eval mode.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pconv.nn import Inpainter
from pconv.pretrained.cache import download_pretrained
from pconv.pretrained.convert import SOURCES, from_state_dict
from pconv.pretrained.files import read_weights, user_file
from pconv.pretrained.registry import PRETRAINED, PretrainedError
from pconv.train import CheckpointError, model_from_checkpoint, non_finite_tensor
from pconv.utils import resolve_device

__all__ = ["load_pretrained"]


def _model_from(obj: Any, source: str | None, where: Path) -> Any:
    info = obj.get("config") if isinstance(obj, dict) and "model" in obj else None
    if source in (None, "pconv") and isinstance(info, dict) and info.get("model"):
        try:
            model = model_from_checkpoint(obj)  # pconv's own checkpoint: it records the constructor's arguments
        except CheckpointError as e:
            raise PretrainedError(f"{where}: {e}") from None
        if not isinstance(model, Inpainter):
            raise PretrainedError(f"{where} holds a {type(model).__name__}, not an inpainting PConvUNet")
        return model
    try:
        model = from_state_dict(obj, source)
    except ValueError as e:
        raise PretrainedError(f"{where}: {e}") from None
    bad = non_finite_tensor(model.state_dict())
    if bad is not None:  # a model whose every output is NaN would score as an all-NaN table
        raise PretrainedError(f"{where}: its weights are not finite ({bad} holds inf or NaN); use another file")
    return model


def load_pretrained(name_or_path: str | os.PathLike, *, source: str | None = None, device: str = "cpu") -> Any:
    """A `PConvUNet` with the weights of a public checkpoint, in eval mode.

    Args:
        name_or_path: a name in `PRETRAINED` (downloaded once into the cache and checked: its
            hash, or its layout and depth), or a checkpoint file: naoto0804's {"n_iter",
            "model", "optimizer"}, mmagic's {"meta", "state_dict"} ("generator." keys, with or
            without the prefix), or pconv's own *.pt checkpoint.
        source: "naoto", "mmagic" or "pconv" for a file; None: detected from the keys. For a
            name it can only be the entry's own (None: the same).
        device: where the model goes ("cpu", "cuda", "auto", ...).

    Returns:
        The model: [0, 1] RGB images and (N, 1, H, W) masks (1 = valid) in, [0, 1] out.

    Raises:
        PretrainedError: see `download_pretrained` and `read_weights`; also a file in another
            layout than `source`, weights of another architecture, a name with another
            `source` than its entry's. Each message names the file and what to do.
    """
    if source is not None and source not in SOURCES:
        raise PretrainedError(f"source must be one of {', '.join(SOURCES)} or None (detect), got {source!r}")
    name = str(name_or_path)
    if name in PRETRAINED:
        entry = PRETRAINED[name]
        if source not in (None, entry.source):
            raise PretrainedError(
                f"{name} is a {entry.source} checkpoint, so source={source!r} does not apply to it: leave source "
                "out (a file of another layout loads by its path, not under this name)"
            )
        path = download_pretrained(name)
        fix = f"delete it and run `python -m pconv pretrained download {name}`"
        model = _model_from(read_weights(path, advice=fix), entry.source, path)
        if model.layers != entry.layers:  # checked before for a file without a hash; a hash implies it
            raise PretrainedError(
                f"{path} holds a layers={model.layers} network, but {name} is layers={entry.layers}: "
                f"not {name}'s file; {fix}"
            )
    else:
        path = user_file(name_or_path)
        if not path.exists() and not path.suffix and os.sep not in name:  # looks like a misspelt name
            raise PretrainedError(
                f"no pretrained model named {name!r} and no such file; known: {', '.join(PRETRAINED)}"
            )
        model = _model_from(read_weights(path), source, path)
    try:
        return model.to(resolve_device(device)).eval()
    except ValueError as e:
        raise PretrainedError(str(e)) from None
