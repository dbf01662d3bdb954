"""The manifest of a binned test-mask set (`pconv.data.mask_sets.make_test_masks`), read with every field checked.

A set is shared by every evaluation, so a manifest that is garbage, truncated or from
something else must stop a run with a message that names the file and how to rebuild,
never with a JSONDecodeError traceback; and a folder is only written over when it holds
nothing but a mask set.
"""

from __future__ import annotations

import json
from pathlib import Path

from pconv.utils import check_hw

__all__ = ["MaskSetError", "existing_set", "read_manifest"]


class MaskSetError(ValueError):
    """A test-mask set on disk that cannot be used (garbage manifest, changed or missing file); says how to rebuild."""


def existing_set(out_dir: Path) -> list[str]:
    """What in `out_dir` belongs to a mask set (manifest, bin folders, PNGs); raise if it holds anything else."""
    if not out_dir.is_dir():
        if out_dir.exists():
            raise FileExistsError(f"{out_dir} is a file, not a folder; pass a folder for the test-mask set")
        return []
    ours, other = [], []
    for p in out_dir.iterdir():
        is_bin = p.is_dir() and p.name.startswith("bin")
        (ours if p.name == "manifest.json" or is_bin or p.suffix.lower() == ".png" else other).append(p.name)
    if other:
        raise FileExistsError(
            f"{out_dir} holds files that are not part of a test-mask set ({', '.join(sorted(other)[:5])}); "
            "write the set into a new or empty folder"
        )
    return ours


def read_manifest(manifest_path: Path) -> dict:
    """The manifest as a dict whose fields have their types, else MaskSetError naming the file and the fix."""
    fix = (
        f"delete the folder {manifest_path.parent} (the shared set is rebuilt on the next run) or "
        "write the set again with `python -m pconv masks --out DIR --force`"
    )
    try:
        manifest = json.loads(manifest_path.read_text())
    except UnicodeDecodeError as e:
        raise MaskSetError(f"{manifest_path} is not a test-mask manifest (not text: {e.reason}); {fix}") from None
    except json.JSONDecodeError as e:
        raise MaskSetError(f"{manifest_path} is not valid JSON ({e.msg}, line {e.lineno}): truncated? {fix}") from None
    try:
        h, w = manifest["size"]
        entries = manifest["masks"]
        ok = check_hw((h, w)) and isinstance(entries, list) and len(entries) > 0
        ok = ok and all(
            isinstance(e["file"], str) and isinstance(e["hole_ratio"], float) and len(e["bin"]) == 2 for e in entries
        )
    except (TypeError, KeyError, ValueError):
        ok = False
    if not ok:
        raise MaskSetError(f"{manifest_path} is not a test-mask manifest (missing or malformed fields); {fix}")
    return manifest
