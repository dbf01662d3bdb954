"""pconv.pretrained: public checkpoints of the paper's network, converted exactly.

`PRETRAINED` lists them (naoto0804's and mmagic's Places2 / CelebA-HQ weights),
`load_pretrained(name)` downloads one once, checks its hash and returns a `PConvUNet` that
takes and gives [0, 1] images; `from_state_dict` converts a state dict from either source.

Imports: `pconv.train`, `pconv.nn`, `pconv.utils` and the rooms below them; never
`pconv.notebook` or `pconv.cli` (pyproject.toml, [tool.importlinter]). Start with registry.py,
then convert.py (its header says how each layout differs from the paper).
"""

from pconv.pretrained.convert import SOURCES, from_state_dict
from pconv.pretrained.download import sha256_of
from pconv.pretrained.loading import load_pretrained
from pconv.pretrained.registry import (
    PRETRAINED,
    PretrainedError,
    cache_path,
    cached,
    download_pretrained,
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
