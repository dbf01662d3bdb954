"""Tests for pconv.data.mask_manifest: a test-mask manifest read with every field checked, and a folder
written over only when it holds nothing but a mask set."""

from __future__ import annotations

import json

import pytest

from pconv.data import MaskSetError, make_test_masks
from pconv.data.mask_manifest import existing_set, read_manifest


def test_a_written_manifest_reads_back_with_its_fields(tmp_path):
    folder = make_test_masks(tmp_path / "set", size=8, per_bin=1, seed=2)
    manifest = read_manifest(folder / "manifest.json")
    assert manifest == json.loads((folder / "manifest.json").read_text())
    assert manifest["size"] == [8, 8] and manifest["seed"] == 2 and len(manifest["masks"]) == 6


@pytest.mark.parametrize(
    "fields",
    [
        {"size": [8, 8], "masks": []},  # no masks
        {"size": [0, 8], "masks": [{"file": "a.png", "bin": [0, 1], "hole_ratio": 0.1}]},  # a size that is no image
        {"size": [8, 8], "masks": [{"file": "a.png", "bin": [0, 1], "hole_ratio": 1}]},  # an int ratio: not ours
        {"size": [8, 8], "masks": [{"file": "a.png", "bin": [0], "hole_ratio": 0.1}]},
        {"size": [8, 8], "masks": [{"bin": [0, 1], "hole_ratio": 0.1}]},
    ],
)
def test_malformed_fields_are_a_mask_set_error_naming_the_file(tmp_path, fields):
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(fields))
    with pytest.raises(MaskSetError, match=rf"{path} is not a test-mask manifest .*delete the folder"):
        read_manifest(path)


def test_existing_set_lists_what_belongs_to_a_set_and_refuses_other_files(tmp_path):
    assert existing_set(tmp_path / "new") == []  # absent: nothing to keep
    (tmp_path / "file").write_text("x")
    with pytest.raises(FileExistsError, match="is a file, not a folder"):
        existing_set(tmp_path / "file")
    folder = make_test_masks(tmp_path / "set", size=8, per_bin=1)
    assert sorted(existing_set(folder)) == sorted(p.name for p in folder.iterdir())
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="notes.txt"):
        existing_set(folder)
