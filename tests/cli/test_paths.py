"""Every path a `python -m pconv` user gives is resolved once, while parsing (issue 23, BAD 1 and 10).

Each path flag and argument is tried in every form a user types: relative, `./`, `..`, a
`~` that the shell expanded, a quoted `~` (the literal "~/x" in argv), through a symlink, and
with a non-ASCII name. The end-to-end runs check the worst cases of the issue: a relative
`--data` folder, and `--out "~/run"`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from pconv.cli.parser import build_parser, main

CPU = ["--device", "cpu", "--num-workers", "0"]

# (argv with X where the path goes, the attribute it lands in)
PATH_FLAGS = [
    (["train", "--data", "X"], "data"),
    (["train", "--out", "X"], "out"),
    (["evaluate", "--checkpoint", "X"], "checkpoint"),
    (["evaluate", "--pretrained", "X"], "pretrained"),
    (["evaluate", "--checkpoint", "c.pt", "--data", "X"], "data"),
    (["evaluate", "--checkpoint", "c.pt", "--masks", "X"], "masks"),
    (["masks", "--out", "X"], "out"),
    (["download", "celeba", "--dest", "X"], "dest"),
    (["pretrained", "convert", "X", "o.pt"], "input"),
    (["pretrained", "convert", "in.pth", "X"], "output"),
]
FLAG_IDS = [" ".join(a).replace("X", "_") for a, _ in PATH_FLAGS]


@pytest.fixture
def places(tmp_path, monkeypatch):
    """cwd = tmp/work/here, HOME = tmp/home, tmp/work/here/lnk -> tmp/elsewhere. Returns (cwd, home)."""
    cwd, home = tmp_path / "work" / "here", tmp_path / "home"
    for p in (cwd, home, tmp_path / "elsewhere"):
        p.mkdir(parents=True)
    (cwd / "lnk").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(home))
    return cwd, home


def forms(cwd: Path, home: Path) -> list[tuple[str, str, Path]]:
    """(name, what the user typed, the absolute path it must mean); symlinks and `..` kept as typed."""
    return [
        ("relative", "x", cwd / "x"),
        ("dot", "./x", cwd / "x"),
        ("dotdot", "../x", cwd / ".." / "x"),
        ("shell-expanded ~", str(home / "x"), home / "x"),
        ("quoted ~", "~/x", home / "x"),
        ("symlink", "lnk/x", cwd / "lnk" / "x"),
        ("unicode", "données/ü x.pt", cwd / "données" / "ü x.pt"),
    ]


FORMS = ["relative", "dot", "dotdot", "shell-expanded ~", "quoted ~", "symlink", "unicode"]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("argv, attr", PATH_FLAGS, ids=FLAG_IDS)
def test_every_path_flag_is_made_absolute_while_parsing(places, argv, attr, form):
    typed, meant = next((t, m) for name, t, m in forms(*places) if name == form)
    args = build_parser().parse_args([typed if a == "X" else a for a in argv])
    got = getattr(args, attr)
    assert isinstance(got, Path) and got.is_absolute() and got == meant, got
    assert "~" not in str(got)  # a quoted ~ never becomes a folder named "~"


@pytest.mark.parametrize("argv, attr", PATH_FLAGS, ids=FLAG_IDS)
def test_an_empty_path_is_a_one_line_error(tmp_path, monkeypatch, capsys, argv, attr):
    monkeypatch.chdir(tmp_path)
    assert main(["" if a == "X" else a for a in argv]) == 2
    err = capsys.readouterr().err
    assert "empty path" in err and err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # `--out ""` wrote nothing into the current folder


def test_keywords_stay_keywords_and_a_folder_of_that_name_is_dot_slash(places):
    cwd, _ = places
    parse = build_parser().parse_args
    assert parse(["train", "--data", "samples"]).data == "samples"
    assert parse(["train", "--data", "celeba"]).data == "celeba"
    assert parse(["train", "--data", "./samples"]).data == cwd / "samples"
    assert parse(["evaluate", "--pretrained", "mmagic-celeba"]).pretrained == "mmagic-celeba"
    assert parse(["evaluate", "--pretrained", "./mmagic-celeba"]).pretrained == cwd / "mmagic-celeba"
    assert parse(["pretrained", "convert", "naoto-places2", "o.pt"]).input == "naoto-places2"
    assert parse(["train"]).data == "samples" and parse(["train"]).out is None


@pytest.mark.parametrize("argv", [["train", "--out", "dangling"], ["masks", "--out", "dangling"]])
def test_a_dangling_symlink_out_names_its_target(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    Path("dangling").symlink_to(tmp_path / "gone")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "symbolic link to" in err and str(tmp_path / "gone") in err and "permissions" not in err
    assert err.count("\n") == 1 and not (tmp_path / "gone").exists()


def photos(folder: Path, n: int) -> Path:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / f"p{i}.png")
    return folder


@pytest.mark.parametrize("data", ["imgs", "./imgs", "a/../imgs"])
def test_train_on_a_relative_data_folder(places, monkeypatch, capsys, data):
    """BAD 1: `train --data imgs` crashed with "none of the 1 files could be decoded" (imgs/imgs/x.png)."""
    cwd, _ = places
    monkeypatch.setenv("PCONV_SMOKE", "1")
    photos(cwd / "imgs", 8)
    (cwd / "a").mkdir()
    argv = ["train", "--data", data, "--out", "run", "--steps", "2", "--val-every", "2", *CPU]
    assert main(argv) == 0, capsys.readouterr().err
    assert (cwd / "run" / "ckpt_2.pt").is_file() and "run folder: " + str(cwd / "run") in capsys.readouterr().out


def test_quoted_tilde_out_checkpoint_masks_and_data_mean_home(places, monkeypatch, capsys):
    """BAD 10: `--out "~/run"` made ./~/run; `evaluate --checkpoint "~/b.pt"` said it did not exist."""
    cwd, home = places
    monkeypatch.setenv("PCONV_SMOKE", "1")
    photos(home / "imgs", 3)
    assert main(["train", "--data", "~/imgs", "--out", "~/run", "--steps", "2", *CPU]) == 0
    assert (home / "run" / "ckpt_2.pt").is_file() and not (cwd / "~").exists()
    assert main(["masks", "--out", "~/m", "--size", "32", "--per-bin", "1"]) == 0
    assert (home / "m" / "manifest.json").is_file()
    capsys.readouterr()
    argv = ["evaluate", "--checkpoint", "~/run/ckpt_2.pt", "--data", "~/imgs", "--masks", "~/m", "--device", "cpu"]
    assert main([*argv, "--methods", "model"]) == 0
    out = capsys.readouterr().out
    assert f"checkpoint {home / 'run' / 'ckpt_2.pt'} (step 2)" in out and f"masks {home / 'm'}" in out
    assert not (cwd / "~").exists()


def test_download_gets_an_absolute_dest(places, monkeypatch, capsys):
    import pconv.cli.commands

    cwd, home = places
    seen = []
    monkeypatch.setattr(pconv.cli.commands, "kaggle_download", lambda name, dest, **kw: seen.append(dest) or Path(dest))
    for typed, meant in (("d", cwd / "d"), ("~/d", home / "d"), ("lnk/d", cwd / "lnk" / "d")):
        assert main(["download", "celeba", "--dest", typed]) == 0
        assert seen[-1] == meant and capsys.readouterr().out.strip() == str(meant)


def test_convert_into_a_folder_writes_a_file_named_after_the_input(places, capsys):
    """`pretrained convert x dir/` wrote a file named like the folder; now dir/<x's stem>.pt."""
    from source_nets import naoto_file

    from pconv.train import load_checkpoint

    cwd, home = places
    naoto_file(home / "1000000.pth")
    (cwd / "out").mkdir()
    for out in ("out/", "out"):
        target = cwd / "out" / "1000000.pt"
        target.unlink(missing_ok=True)
        assert main(["pretrained", "convert", "~/1000000.pth", out, "--source", "naoto"]) == 0
        assert f"wrote {target}" in capsys.readouterr().out
        assert load_checkpoint(target)["config"]["pretrained"]["from"] == str(home / "1000000.pth")
    assert main(["pretrained", "convert", "~/1000000.pth", "new/", "--source", "naoto"]) == 2
    err = capsys.readouterr().err
    assert "new/ names a folder" in err and err.count("\n") == 1 and not (cwd / "new").exists()
    assert sorted(p.name for p in (cwd / "out").iterdir()) == ["1000000.pt"]
    assert torch.load(cwd / "out" / "1000000.pt", weights_only=True)["step"] == 0
    assert os.listdir(home) == ["1000000.pth"]
