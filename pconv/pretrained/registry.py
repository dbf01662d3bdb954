"""The public checkpoints of the paper's network (Liu et al. 2018, arXiv:1804.07723), ready to use.

    from pconv.pretrained.registry import PRETRAINED, cached, load_pretrained
    model = load_pretrained("mmagic-celeba")          # downloaded once, hash-checked, eval mode
    result = model.inpaint(image, mask)                # [0, 1] RGB in and out, like every model here
    model = load_pretrained("1000000.pth")             # or a file downloaded by hand

`PRETRAINED` records where each file comes from and what its sources say about it;
`pconv.pretrained.convert.from_state_dict` converts the weights exactly (why and how: its header).
Files land in `data_dir()/pretrained/NAME/` (`PCONV_DATA_DIR`), written by `pconv.pretrained.download`
(temporary name, fsync, rename: a partial download never looks complete).

Security: checkpoint files are pickles, and unpickling can run code. Files are read with
`torch.load(weights_only=True)`, which reads tensors and plain values and runs nothing.
Only a file whose full SHA-256 equals a `PRETRAINED` entry's, and that needs more (a
Python object in its metadata), is unpickled fully; any other such file is refused with
the reason. The published hashes are prefixes or unknown, so today no file qualifies: the
rule is kept for entries whose full hash gets recorded.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pconv.pretrained.convert import SOURCES, from_state_dict
from pconv.pretrained.download import DownloadError, fetch, sha256_of
from pconv.train import non_finite_tensor
from pconv.utils import data_dir, resolve_device, user_path

__all__ = ["PRETRAINED", "Pretrained", "PretrainedError", "from_state_dict", "load_pretrained", "cached"]
__all__ += ["cache_path", "download_pretrained", "read_weights"]

log = logging.getLogger(__name__)

CITATION = (
    "@inproceedings{liu2018image, title={Image Inpainting for Irregular Holes Using Partial Convolutions}, "
    "author={Liu, Guilin and Reda, Fitsum A. and Shih, Kevin J. and Wang, Ting-Chun and Tao, Andrew and "
    "Catanzaro, Bryan}, booktitle={Proceedings of the European Conference on Computer Vision (ECCV)}, "
    "pages={85--100}, year={2018}}"
)


@dataclass(frozen=True)
class Pretrained:
    """One public checkpoint: where it is, how to check it, what it was trained on, what was published.

    `sha256` is the full digest when one is published (None otherwise); `sha256_prefix` the
    start of it that a file name carries (mmagic's `-1ffed0e8.pth`); both None: unchecked.
    `published` holds the source's own figures ({"psnr", "ssim", "l1"}), on its test set and
    masks (`notes`), not comparable with pconv's evaluation as they stand.
    """

    url: str
    source: str
    data: str
    resolution: int
    layers: int
    license: str
    page: str
    notes: str
    sha256: str | None = None
    sha256_prefix: str | None = None
    published: dict[str, float] = field(default_factory=dict)
    citation: str = CITATION

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_MMAGIC = "https://download.openmmlab.com/mmediting/inpainting/pconv/"
_MMAGIC_PAGE = "https://github.com/open-mmlab/mmagic/tree/main/configs/partial_conv (metafile.yml, README.md)"
_MMAGIC_NOTES = (
    "stage 2 of 2 (500k iterations fine-tuning with the encoder's BatchNorm frozen, 4 GPUs x batch 2, "
    "after a 500k-iteration stage 1), mmediting 2020-06-19; free-form masks of mmagic's LoadMask "
    "(irregular, 15-65% of the image); the figures are mmagic's, on its validation set and masks. "
    "Trained on BGR images in [-1, 1] (converted to RGB here). The 8 hex digits of the file name are "
    "the start of its SHA-256 (mmagic's publish_model)."
)

PRETRAINED: dict[str, Pretrained] = {
    "naoto-places2": Pretrained(
        url="https://github.com/naoto0804/pytorch-inpainting-with-partial-conv/releases/download/v0.0.0/1000000.pth",
        source="naoto",
        data="Places2 (Places365-Challenge, ~8M images)",
        resolution=256,
        layers=7,
        license="MIT (naoto0804/pytorch-inpainting-with-partial-conv); Places2's terms apply to the data",
        page="https://github.com/naoto0804/pytorch-inpainting-with-partial-conv#results",
        notes=(
            "500k iterations, then 500k fine-tuning with the encoder's BatchNorm frozen, batch 16; the author "
            "does not vouch for its quality and publishes no figures or hash. Masks of the chainer "
            "reimplementation's generator, not the paper's. The README has also linked Google Drive "
            "(id 1SYjJ-Vlu2cpAlgBG5FiJueN9W4lf48w8) and issue #22 a Dropbox copy of the same file name."
        ),
    ),
    "mmagic-places2": Pretrained(
        url=_MMAGIC + "pconv_256x256_stage2_4x2_places_20200619-1ffed0e8.pth",
        sha256_prefix="1ffed0e8",
        source="mmagic",
        data="Places365-Challenge",
        resolution=256,
        layers=7,
        license="Apache-2.0 (open-mmlab/mmagic); Places365's terms apply to the data",
        page=_MMAGIC_PAGE,
        notes=_MMAGIC_NOTES + " Test set: Places365-val.",
        published={"psnr": 22.762, "ssim": 0.801, "l1": 8.776},
    ),
    "mmagic-celeba": Pretrained(
        url=_MMAGIC + "pconv_256x256_stage2_4x2_celeba_20200619-860f8b95.pth",
        sha256_prefix="860f8b95",
        source="mmagic",
        data="CelebA-HQ",
        resolution=256,
        layers=7,
        license="Apache-2.0 (open-mmlab/mmagic); CelebA-HQ is for non-commercial research",
        page=_MMAGIC_PAGE,
        notes=_MMAGIC_NOTES + " Test set: CelebA-val.",
        published={"psnr": 25.404, "ssim": 0.853, "l1": 5.990},
    ),
}


class PretrainedError(RuntimeError):
    """A pretrained model cannot be had: unknown name, no network, bad file, hash mismatch; says what to do."""


def cache_path(name: str) -> Path:
    """Where the file of `PRETRAINED[name]` is kept: `data_dir()/pretrained/NAME/FILENAME`."""
    return data_dir() / "pretrained" / name / _entry(name).filename


def cached() -> list[str]:
    """The names in `PRETRAINED` whose files are in the cache (complete: partial downloads have other names)."""
    return [name for name in PRETRAINED if cache_path(name).is_file()]


def _entry(name: str) -> Pretrained:
    if name not in PRETRAINED:
        raise PretrainedError(f"no pretrained model named {name!r}; known: {', '.join(PRETRAINED)} (or pass a file)")
    return PRETRAINED[name]


def _check_cached(name: str, path: Path) -> None:
    entry = _entry(name)
    want = entry.sha256 or entry.sha256_prefix
    if want and not (got := sha256_of(path)).startswith(want):
        path.unlink(missing_ok=True)
        raise PretrainedError(
            f"{path} is not {name}'s file: its SHA-256 is {got}, expected {'' if entry.sha256 else 'a prefix '}"
            f"{want}; it was deleted. Download it again (`python -m pconv pretrained download {name}`)"
        )


def download_pretrained(name: str, *, progress: bool = True) -> Path:
    """The cached file of `PRETRAINED[name]`, downloaded (and hash-checked) when it is not there yet.

    Raises:
        PretrainedError: unknown name; no network or a failed download (the message names the
            model and the URL and where to put a file downloaded by hand); a hash mismatch (the
            file is deleted and the message says so).
    """
    entry, path = _entry(name), cache_path(name)
    if path.is_file():
        _check_cached(name, path)
        return path
    try:
        digest = fetch(entry.url, path, sha256=entry.sha256, sha256_prefix=entry.sha256_prefix, progress=progress)
    except DownloadError as e:
        raise PretrainedError(
            f"cannot download {name} from {entry.url}: {e}. Without network, download that file elsewhere and "
            f"put it at {path} (or pass the file's path instead of the name)"
        ) from None
    if not (entry.sha256 or entry.sha256_prefix):
        log.warning("%s has no published SHA-256; the file downloaded to %s has SHA-256 %s", name, path, digest)
    return path


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
    from pconv.nn import Inpainter
    from pconv.train import CheckpointError, model_from_checkpoint

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
