"""Reading a checkpoint file safely and building the model: `load_pretrained` and `read_weights`.

`load_pretrained` takes a name in `PRETRAINED` (`pconv.pretrained.registry`: downloaded once,
hash-checked) or a file: naoto0804's, mmagic's (converted exactly by `pconv.pretrained.convert`)
or pconv's own checkpoint (`pconv.train.model_from_checkpoint`), and returns the paper's
network (Liu et al. 2018, arXiv:1804.07723) in eval mode.

Security: checkpoint files are pickles, and unpickling can run code. Files are read with
`torch.load(weights_only=True)`, which reads tensors and plain values and runs nothing.
Only a file whose full SHA-256 equals a `PRETRAINED` entry's, and that needs more (a
Python object in its metadata), is unpickled fully; any other such file is refused with
the reason. The published hashes are prefixes or unknown, so today no file qualifies: the
rule is kept for entries whose full hash gets recorded.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from pconv.nn import Inpainter
from pconv.pretrained.convert import SOURCES, from_state_dict
from pconv.pretrained.download import sha256_of
from pconv.pretrained.registry import PRETRAINED, PretrainedError, download_pretrained
from pconv.train import CheckpointError, model_from_checkpoint, non_finite_tensor
from pconv.utils import resolve_device, user_path

__all__ = ["load_pretrained", "read_weights"]


def _needed_global(error: Exception) -> str | None:
    """The Python object a pickle refers to, from torch's weights_only error; None when it is not that."""
    found = re.search(r"(?:GLOBAL|Unsupported class|global) ([\w.]+)", str(error))
    return found.group(1) if found else None


def _user_file(path: str | os.PathLike) -> Path:
    try:
        return user_path(path)  # ~ (quoted too) expanded, then relative to the current folder
    except ValueError:
        known = ", ".join(PRETRAINED)
        raise PretrainedError(f"an empty path was given; pass a checkpoint file or a name: {known}") from None


def read_weights(path: str | os.PathLike) -> Any:
    """Read a checkpoint file with `torch.load(weights_only=True)`, on the CPU.

    A file that needs full unpickling is read only when its full SHA-256 is a `PRETRAINED`
    entry's (see the module header); a pickle that would run code is never run otherwise.

    Raises:
        PretrainedError: the file is missing, a folder, truncated, corrupt, not a PyTorch
            file, or needs full unpickling and is not trusted (the message says why).
    """
    path = _user_file(path)
    if not path.is_file():
        what = "a folder, not a file" if path.is_dir() else "not there"
        raise PretrainedError(
            f"{path} is {what}; pass a checkpoint file (.pth or .pt) or a name: {', '.join(PRETRAINED)}"
        )
    try:
        with warnings.catch_warnings():  # torch's note on a raw pickle's protocol: the message below says more
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        needed = _needed_global(e)
        if needed is None:
            raise PretrainedError(f"{path} is not a PyTorch checkpoint, or it is corrupt; it cannot be read") from None
        digest = sha256_of(path)
        if not any(entry.sha256 == digest for entry in PRETRAINED.values()):
            raise PretrainedError(
                f"{path} refers to the Python object {needed}: reading it would mean unpickling it fully, which can "
                f"run any code in the file. pconv does that only for a file whose SHA-256 is a PRETRAINED entry's, "
                f"and this file's ({digest}) is none. Use the original file, or, if you trust this one, load it "
                "yourself and pass its state dict to from_state_dict"
            ) from None
        return torch.load(path, map_location="cpu", weights_only=False)  # trusted: its full SHA-256 is registered
    except Exception as e:  # zip errors, EOF, ...: weights_only ran nothing, so the file is just broken
        first = (str(e).strip().splitlines() or [""])[0][:160]
        raise PretrainedError(
            f"{path} is truncated or corrupt and cannot be read ({type(e).__name__}: {first}); download it again"
        ) from None


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
        name_or_path: a name in `PRETRAINED` (downloaded once into the cache, hash-checked),
            or a checkpoint file: naoto0804's {"n_iter", "model", "optimizer"}, mmagic's
            {"meta", "state_dict"} ("generator." keys, with or without the prefix), or pconv's
            own *.pt checkpoint.
        source: "naoto", "mmagic" or "pconv"; None: the entry's, or detected from the keys.
        device: where the model goes ("cpu", "cuda", "auto", ...).

    Returns:
        The model: [0, 1] RGB images and (N, 1, H, W) masks (1 = valid) in, [0, 1] out.

    Raises:
        PretrainedError: see `download_pretrained` and `read_weights`; also a file in another
            layout than `source`, weights of another architecture, or a named file whose depth
            is not the entry's. Each message names the file and what to do.
    """
    if source is not None and source not in SOURCES:
        raise PretrainedError(f"source must be one of {', '.join(SOURCES)} or None (detect), got {source!r}")
    name = str(name_or_path)
    if name in PRETRAINED:
        path = download_pretrained(name)
        try:
            weights = read_weights(path)
        except PretrainedError as e:  # no hash to catch it earlier (naoto's): a cached file that went bad
            raise PretrainedError(f"{e}: delete that cached file and run `pconv pretrained download {name}`") from None
        model = _model_from(weights, source or PRETRAINED[name].source, path)
        if model.layers != PRETRAINED[name].layers:
            raise PretrainedError(
                f"{path} holds a layers={model.layers} network, but {name} is layers={PRETRAINED[name].layers}: "
                f"not {name}'s file; delete it and download it again"
            )
    else:
        path = _user_file(name_or_path)
        if not path.exists() and not path.suffix and os.sep not in name:  # looks like a misspelt name
            raise PretrainedError(
                f"no pretrained model named {name!r} and no such file; known: {', '.join(PRETRAINED)}"
            )
        model = _model_from(read_weights(path), source, path)
    try:
        return model.to(resolve_device(device)).eval()
    except ValueError as e:
        raise PretrainedError(str(e)) from None
