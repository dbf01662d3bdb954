"""pconv.pretrained."""

from pconv.pretrained.convert import SOURCES, from_state_dict
from pconv.pretrained.download import sha256_of
from pconv.pretrained.registry import (
    PRETRAINED,
    PretrainedError,
    cache_path,
    cached,
    download_pretrained,
    load_pretrained,
)

__all__ = [
    "PRETRAINED",
    "PretrainedError",
    "SOURCES",
    "cache_path",
    "cached",
    "download_pretrained",
    "from_state_dict",
    "load_pretrained",
    "sha256_of",
]
