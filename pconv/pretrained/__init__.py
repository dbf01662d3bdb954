"""pconv.pretrained: public checkpoints of the paper's network, converted exactly.

`PRETRAINED` lists them (naoto0804's and mmagic's Places2 / CelebA-HQ weights),
`load_pretrained(name)` downloads one once, checks it (its hash, or its layout and depth
where none is published) and returns a `PConvUNet` that takes and gives [0, 1] images;
`cache_state(name)` says where its file goes and whether the one there is valid, and names
what a bad one is (an HTML page, another model's file); `from_state_dict` converts a state
dict from either source.

Imports: `pconv.train`, `pconv.nn`, `pconv.utils` and the rooms below them; never
`pconv.notebook` or `pconv.cli` (pyproject.toml, [tool.importlinter]). Start with registry.py,
then cache.py, files.py and convert.py (its header says how each layout differs from the paper).
"""

from pconv.pretrained.cache import CacheState, cache_path, cache_state, cached, download_pretrained
from pconv.pretrained.convert import SOURCES, from_state_dict
from pconv.pretrained.download import sha256_of
from pconv.pretrained.loading import load_pretrained
from pconv.pretrained.registry import PRETRAINED, PretrainedError

__all__ = [
    "PRETRAINED",
    "CacheState",
    "PretrainedError",
    "SOURCES",
    "cache_path",
    "cache_state",
    "cached",
    "download_pretrained",
    "from_state_dict",
    "load_pretrained",
    "sha256_of",
]
