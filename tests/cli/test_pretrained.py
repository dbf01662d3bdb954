"""Tests for pconv.cli.pretrained: `python -m pconv pretrained {list,download,convert}`, called directly.

Each command function takes the parsed arguments and prints; a registry entry for a test
file (tests/source_nets.py `register`, served as file://) stands in for the public
checkpoints, so nothing leaves the machine. The runs through `main` are in tests/cli/test_parser.py.
"""

from __future__ import annotations

import argparse

import pytest
from source_nets import naoto_file, register

from pconv.cli.errors import UsageError
from pconv.cli.parser import main
from pconv.cli.pretrained import (
    add_pretrained_parser,
    convert_output,
    pretrained_convert,
    pretrained_download,
    pretrained_list,
    pretrained_model,
)
from pconv.pretrained import cache_path, sha256_of
from pconv.train import load_checkpoint


@pytest.fixture
def naoto_entry(tmp_path, monkeypatch):
    """A naoto0804-layout file (layers=4) registered as "test-naoto", with this test's own cache."""
    monkeypatch.setenv("PCONV_DATA_DIR", str(tmp_path / "data"))
    src = naoto_file(tmp_path / "1000000.pth")
    register(monkeypatch, "test-naoto", src, sha256=sha256_of(src))
    return src


def test_the_parser_wires_each_action_to_its_function(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    add_pretrained_parser(parser.add_subparsers(dest="command"))
    assert parser.parse_args(["pretrained", "list"]).func is pretrained_list
    assert parser.parse_args(["pretrained", "download", "x"]).func is pretrained_download
    args = parser.parse_args(["pretrained", "convert", "in.pth", "out.pt", "--source", "naoto"])
    assert args.func is pretrained_convert and args.source == "naoto"
    assert args.input == tmp_path / "in.pth" and args.output == tmp_path / "out.pt"  # made absolute while parsing
    assert parser.parse_args(["pretrained", "convert", "mmagic-celeba", "o.pt"]).input == "mmagic-celeba"


def test_convert_output_wants_an_existing_folder_for_a_trailing_slash(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert convert_output("new.pt") == tmp_path / "new.pt"
    (tmp_path / "runs").mkdir()
    assert convert_output("runs/") == tmp_path / "runs"
    with pytest.raises(argparse.ArgumentTypeError, match="names a folder .* that does not exist; create it first"):
        convert_output("missing/")


def rows(text: str, name: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.startswith(name + " ")]


def test_list_then_download_then_list(naoto_entry, capsys, tmp_path):
    assert pretrained_list(argparse.Namespace()) == 0
    text = capsys.readouterr().out
    assert "mmagic-celeba" in text and "25.404" in text and "0.853" in text  # the published figures
    path = tmp_path / "data" / "pretrained" / "test-naoto" / "1000000.pth"
    assert rows(text, "test-naoto") == [["test-naoto", "naoto", "32", "-", "-", str(path), "no"]]  # the full path
    mm = tmp_path / "data" / "pretrained" / "mmagic-celeba" / "pconv_256x256_stage2_4x2_celeba_20200619-860f8b95.pth"
    assert rows(text, "mmagic-celeba")[0][-2:] == [str(mm), "no"]
    naoto_folder = tmp_path / "data" / "pretrained" / "naoto-places2"
    assert rows(text, "naoto-places2")[0][-2:] == [str(naoto_folder / "<any-name>.pth"), "no"]
    prose = " ".join(text.split())
    assert (
        "naoto-places2: its file name is not published (the README links only the release page "
        "https://github.com/naoto0804/pytorch-inpainting-with-partial-conv/releases/tag/v0.0.0); the download tries "
        f"1000000.pth. Any one .pth or .pt file in {naoto_folder}/ is taken, whatever its name." in prose
    )
    assert pretrained_download(argparse.Namespace(name="test-naoto")) == 0
    assert capsys.readouterr().out.strip() == str(cache_path("test-naoto"))
    pretrained_list(argparse.Namespace())
    assert [line.split()[-1] for line in capsys.readouterr().out.splitlines() if "test-naoto" in line] == ["yes"]


def test_list_names_an_invalid_file_and_download_exits_2(naoto_entry, capsys, tmp_path):
    page = cache_path("test-naoto")
    page.parent.mkdir(parents=True)
    page.write_bytes(b"<!DOCTYPE html><html><head><title>Dropbox</title></head></html>")
    pretrained_list(argparse.Namespace())
    text = capsys.readouterr().out
    assert rows(text, "test-naoto")[0][-2:] == [str(page), "INVALID"]
    prose = " ".join(text.split())
    assert "INVALID (left as they are: nothing here deletes a file): test-naoto: " in prose
    assert f"{page} is an HTML page, not a checkpoint: the download was probably redirected" in prose
    assert main(["pretrained", "download", "test-naoto"]) == 2
    err = capsys.readouterr()
    assert err.out == "" and "Traceback" not in err.err
    assert f"{page} is an HTML page, not a checkpoint" in err.err and "delete it and run" in err.err
    assert page.is_file()  # kept, and still not listed as cached
    pretrained_list(argparse.Namespace())
    assert rows(capsys.readouterr().out, "test-naoto")[0][-1] == "INVALID"


def test_download_of_an_html_page_exits_2_and_saves_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PCONV_DATA_DIR", str(tmp_path / "data"))
    served = tmp_path / "served" / "1000000.pth"  # what a login redirect leaves, at the file's URL
    served.parent.mkdir()
    served.write_bytes(b"<html><body>Please sign in</body></html>")
    register(monkeypatch, "test-naoto", served, name_published=False)
    assert main(["pretrained", "download", "test-naoto"]) == 2
    err = capsys.readouterr().err
    assert f"the file downloaded from {served.as_uri()} is an HTML page, not a checkpoint" in err
    assert "nothing was saved" in err and "Traceback" not in err
    assert not any(p.is_file() for p in (tmp_path / "data").rglob("*"))
    pretrained_list(argparse.Namespace())
    assert rows(capsys.readouterr().out, "test-naoto")[0][-1] == "no"


def test_a_model_is_scored_at_its_entry_size_or_256(naoto_entry):
    model, size = pretrained_model("test-naoto")
    assert size == 32 and model.layers == 4 and not model.training  # the entry's resolution
    model, size = pretrained_model(str(naoto_entry), "naoto")
    assert size == 256  # a bare file: the public checkpoints' size


def test_convert_writes_a_pconv_checkpoint_and_never_overwrites(naoto_entry, tmp_path, capsys):
    out = tmp_path / "naoto.pt"
    assert pretrained_convert(argparse.Namespace(input="test-naoto", output=out, source=None)) == 0
    assert f"evaluate --checkpoint {out}" in capsys.readouterr().out
    ckpt = load_checkpoint(out)
    assert ckpt["step"] == 0 and ckpt["config"]["task"] == "inpainting" and ckpt["config"]["size"] == 32
    expected = {"from": "test-naoto", "sha256": sha256_of(naoto_entry), "source": "detected"}
    assert ckpt["config"]["pretrained"] == expected
    (tmp_path / "runs").mkdir()
    assert pretrained_convert(argparse.Namespace(input=naoto_entry, output=tmp_path / "runs", source="naoto")) == 0
    assert (tmp_path / "runs" / "1000000.pt").is_file()  # into a folder: named after the input
    with pytest.raises(UsageError, match="naoto.pt exists; pconv does not overwrite it"):
        pretrained_convert(argparse.Namespace(input="test-naoto", output=out, source=None))
