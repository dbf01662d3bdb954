"""The public checkpoints of the paper's network (Liu et al. 2018, arXiv:1804.07723) and their cache.

    from pconv.pretrained import PRETRAINED, cached, load_pretrained
    model = load_pretrained("mmagic-celeba")          # downloaded once, hash-checked, eval mode
    result = model.inpaint(image, mask)                # [0, 1] RGB in and out, like every model here
    model = load_pretrained("1000000.pth")             # or a file downloaded by hand

`PRETRAINED` records where each file comes from and what its sources say about it;
`pconv.pretrained.convert.from_state_dict` converts the weights exactly (why and how: its header),
and `pconv.pretrained.loading` reads a file safely and builds the model. Files land in
`data_dir()/pretrained/NAME/` (`PCONV_DATA_DIR`), written by `pconv.pretrained.download`
(temporary name, fsync, rename: a partial download never looks complete) and hash-checked here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from pconv.pretrained.download import DownloadError, fetch, sha256_of
from pconv.utils import data_dir

__all__ = ["CITATION", "PRETRAINED", "Pretrained", "PretrainedError", "cache_path", "cached", "download_pretrained"]

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
