"""What a checkpoint file is: readable (and in which layout, how deep), or what it is instead.

A download can go wrong without an error: a login or error page saved where the checkpoint
should be, a transfer cut short, an archive. `sniff` names such files from their first bytes,
`read_weights` reads a checkpoint safely, and `identify` gives the layout ("naoto", "mmagic",
"pconv": `pconv.pretrained.convert`) and depth of what it holds, so that a file in another
model's folder can be named as that model's.

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
import zipfile
from pathlib import Path
from typing import Any

import torch

from pconv.pretrained.convert import depth, detect_source, state_dict_of
from pconv.pretrained.download import sha256_of
from pconv.pretrained.registry import PRETRAINED, PretrainedError
from pconv.utils import user_path

__all__ = ["identify", "read_weights", "sniff", "user_file"]

_LEGACY = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[:-1]  # torch.save's magic number, before zip files
_PRINTABLE = set(range(32, 127)) | {9, 10, 13}


def _first_entry(head: bytes) -> str:
    """The name of a zip file's first entry, from its local header (readable when the end is missing)."""
    n = int.from_bytes(head[26:28], "little")
    return head[30 : 30 + n].decode("utf-8", "replace")


def sniff(path: str | os.PathLike) -> str | None:
    """What a file is when its first bytes show it is no PyTorch checkpoint; None when it may be one.

    Returns:
        A phrase that completes "<path> is ...", with the likely cause: "empty (0 bytes)...",
        "an HTML page, not a checkpoint: ...", "not a PyTorch checkpoint but a text file ...",
        "truncated: ...", "a zip archive, not ...", "a gzip archive, not ...". None for a
        zip with a data.pkl, torch's older format, and any other binary (torch.load decides).
    """
    with open(path, "rb") as f:
        head = f.read(4096)
    if not head:
        return "empty (0 bytes): nothing was downloaded"
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except (zipfile.BadZipFile, OSError):
            if _first_entry(head).endswith("data.pkl"):
                return "truncated: a PyTorch checkpoint whose end is missing (the download was probably cut short)"
            return "a damaged or cut-off zip archive, not a PyTorch checkpoint"
        if any(n.endswith("data.pkl") for n in names):
            return None
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        return f"a zip archive, not a PyTorch checkpoint (it holds {shown or 'nothing'}): unpack the checkpoint from it"
    if head.startswith(_LEGACY):
        return None
    if head.startswith(b"\x1f\x8b"):
        return "a gzip archive, not a PyTorch checkpoint: unpack the checkpoint from it"
    text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n").lower()
    if text.startswith(("<!doctype html", "<html", "<head", "<body")) or "<html" in text[:1024]:
        return (
            "an HTML page, not a checkpoint: the download was probably redirected to a login or error page "
            "(or the page that links the file was saved instead of the file)"
        )
    if sum(b in _PRINTABLE for b in head) >= 0.95 * len(head):
        first = head.decode("ascii", "replace").strip().splitlines()[0][:60]
        return f"not a PyTorch checkpoint but a text file (it starts {first!r}): probably an error message"
    return None


def _needed_global(error: Exception) -> str | None:
    """The Python object a pickle refers to, from torch's weights_only error; None when it is not that."""
    found = re.search(r"(?:GLOBAL|Unsupported class|global) ([\w.]+)", str(error))
    return found.group(1) if found else None


def user_file(path: str | os.PathLike) -> Path:
    """A checkpoint path a user gave, resolved (`pconv.utils.user_path`); an empty one is a PretrainedError."""
    try:
        return user_path(path)  # ~ (quoted too) expanded, then relative to the current folder
    except ValueError:
        known = ", ".join(PRETRAINED)
        raise PretrainedError(f"an empty path was given; pass a checkpoint file or a name: {known}") from None


def read_weights(path: str | os.PathLike, advice: str = "download it again, or pass another file") -> Any:
    """Read a checkpoint file with `torch.load(weights_only=True)`, on the CPU.

    A file that needs full unpickling is read only when its full SHA-256 is a `PRETRAINED`
    entry's (see the module header); a pickle that would run code is never run otherwise.

    Args:
        path: the file.
        advice: what the user should do about a file that is not a checkpoint (ends the message).

    Raises:
        PretrainedError: the file is missing, a folder, an HTML page or other non-checkpoint
            (`sniff`), truncated, corrupt, or needs full unpickling and is not trusted (the
            message names the file and says why).
    """
    path = user_file(path)
    if not path.is_file():
        what = "a folder, not a file" if path.is_dir() else "not there"
        raise PretrainedError(
            f"{path} is {what}; pass a checkpoint file (.pth or .pt) or a name: {', '.join(PRETRAINED)}"
        )
    what = sniff(path)
    if what is not None:
        raise PretrainedError(f"{path} is {what}; {advice}")
    try:
        with warnings.catch_warnings():  # torch's note on a raw pickle's protocol: the message below says more
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        needed = _needed_global(e)
        if needed is None:
            raise PretrainedError(f"{path} is not a PyTorch checkpoint, or it is corrupt; {advice}") from None
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
            f"{path} is truncated or corrupt and cannot be read ({type(e).__name__}: {first}); {advice}"
        ) from None


def identify(weights: Any) -> tuple[str, int]:
    """The layout ("naoto", "mmagic" or "pconv") and depth (layers) of a checkpoint's network.

    Args:
        weights: what `read_weights` returned: a state dict or a checkpoint dict holding one.

    Raises:
        ValueError: no PConv network in a known layout (the message lists a few keys).
    """
    sd = state_dict_of(weights)
    source = detect_source(sd)
    return source, depth(sd, source)
