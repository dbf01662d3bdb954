"""Tests for pconv.data.publish: a folder built privately and renamed into place whole, or not at all."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pconv.data import publish_folder
from pconv.utils import WriteFailedError


def _write(names: list[str]):
    def build(folder: Path) -> None:
        for name in names:
            (folder / name).write_text(name)

    return build


def _listing(folder: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir()}


def test_a_built_folder_appears_whole_and_nothing_is_left_beside_it(tmp_path):
    seen = []

    def build(folder: Path) -> None:
        seen.append(folder)
        assert folder.parent == tmp_path and folder.name.startswith(".out.partial-")  # private and hidden
        _write(["a", "b"])(folder)

    assert publish_folder(tmp_path / "out", build, replace=False, what="test folder")
    assert _listing(tmp_path / "out") == {"a": "a", "b": "b"}  # the owner file is gone
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and not seen[0].exists()


def test_an_empty_destination_is_filled_and_a_filled_one_kept_unless_replace(tmp_path):
    (tmp_path / "out").mkdir()
    assert publish_folder(tmp_path / "out", _write(["a"]), replace=False, what="test folder")
    assert not publish_folder(tmp_path / "out", _write(["b"]), replace=False, what="test folder")  # lost the race
    assert _listing(tmp_path / "out") == {"a": "a"}
    assert publish_folder(tmp_path / "out", _write(["c"]), replace=True, what="test folder")
    assert _listing(tmp_path / "out") == {"c": "c"} and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_a_failing_build_leaves_the_previous_folder_intact(tmp_path):
    publish_folder(tmp_path / "out", _write(["a"]), replace=False, what="test folder")

    def broken(folder: Path) -> None:
        (folder / "half").write_text("x")
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        publish_folder(tmp_path / "out", broken, replace=True, what="test folder")
    assert _listing(tmp_path / "out") == {"a": "a"} and [p.name for p in tmp_path.iterdir()] == ["out"]

    def full(folder: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(WriteFailedError, match=r"could not write test folder .*out"):
        publish_folder(tmp_path / "out", full, replace=True, what="test folder")
    assert _listing(tmp_path / "out") == {"a": "a"} and [p.name for p in tmp_path.iterdir()] == ["out"]


def test_leftovers_of_a_killed_builder_are_removed_and_a_half_swap_is_undone(tmp_path):
    pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = int(pid.stdout)  # a process that has exited
    partial = tmp_path / ".out.partial-x"
    partial.mkdir()
    (partial / ".pconv-owner").write_text(str(dead))
    old = tmp_path / ".out.old-y"
    (old / "out").mkdir(parents=True)
    (old / "out" / "a").write_text("previous")
    (old / ".pconv-owner").write_text(str(dead))  # killed after moving `out` aside, before the new one went in
    live = tmp_path / ".out.partial-z"
    live.mkdir()  # no owner file yet: a live builder that just started; left alone
    assert not publish_folder(tmp_path / "out", _write(["b"]), replace=False, what="test folder")
    assert _listing(tmp_path / "out") == {"a": "previous"}  # restored, then kept (not replace)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.partial-z", "out"]
