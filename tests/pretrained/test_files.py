"""pconv.pretrained.files: what a file is (`sniff`), reading it safely (`read_weights`), which layout and depth
it holds (`identify`). The files are made here: the sources' checkpoints (tests/source_nets.py) and the
things a download can leave instead."""

from __future__ import annotations

import gzip
import io
import zipfile

import pytest
import torch
from source_nets import mmagic_file, naoto_file

from pconv.nn import PConvUNet, UNet
from pconv.pretrained import PretrainedError
from pconv.pretrained.files import identify, read_weights, sniff
from pconv.train import model_info

LOGIN_PAGE = b"""\xef\xbb\xbf
<!DOCTYPE html>
<html lang="en"><head><title>Sign in to GitHub</title></head><body><form>...</form></body></html>
"""


def zip_of(**files: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (LOGIN_PAGE, "an HTML page, not a checkpoint: the download was probably redirected to a login or error page"),
        (b"  <head><meta charset=utf-8></head>", "an HTML page"),
        (b"<?xml version='1.0'?>\n<html xmlns='http://www.w3.org/1999/xhtml'>", "an HTML page"),
        (b"Not Found\n", "not a PyTorch checkpoint but a text file (it starts 'Not Found')"),
        (b'{"message": "Bad credentials"}', 'text file (it starts \'{"message": "Bad credentials"}\')'),
        (b"", "empty (0 bytes)"),
        (
            zip_of(**{"readme.txt": b"hi", "w.bin": b"\0" * 9}),
            "a zip archive, not a PyTorch checkpoint (it holds readme",
        ),
        (gzip.compress(b"\0\1\2" * 100), "a gzip archive"),
    ],
    ids=["html-login", "html-head", "xhtml", "text", "json", "empty", "zip", "gzip"],
)
def test_sniff_names_what_a_non_checkpoint_is(tmp_path, data, expected):
    path = tmp_path / "file.pth"
    path.write_bytes(data)
    assert expected in sniff(path)


def test_sniff_tells_a_truncated_checkpoint_from_a_damaged_zip(tmp_path):
    whole = mmagic_file(tmp_path / "whole.pth").read_bytes()  # torch's zip format
    (tmp_path / "cut.pth").write_bytes(whole[: len(whole) // 2])
    other = zip_of(**{"a.txt": b"x" * 5000})
    (tmp_path / "cut.zip").write_bytes(other[: len(other) // 2])
    assert sniff(tmp_path / "cut.pth").startswith("truncated: a PyTorch checkpoint whose end is missing")
    assert sniff(tmp_path / "cut.zip").startswith("a damaged or cut-off zip archive")


def test_sniff_leaves_checkpoints_and_unknown_binaries_to_torch(tmp_path):
    assert sniff(mmagic_file(tmp_path / "zip.pth")) is None
    assert sniff(naoto_file(tmp_path / "legacy.pth", legacy=True)) is None  # PyTorch 0.4's format
    (tmp_path / "binary.pth").write_bytes(bytes(range(256)) * 4)
    assert sniff(tmp_path / "binary.pth") is None


def test_read_weights_names_an_html_page_and_ends_with_the_advice(tmp_path):
    path = tmp_path / "1000000.pth"
    path.write_bytes(LOGIN_PAGE)
    with pytest.raises(PretrainedError) as e:
        read_weights(path, advice="delete it and try again")
    assert str(e.value) == (
        f"{path} is an HTML page, not a checkpoint: the download was probably redirected to a login or error page "
        "(or the page that links the file was saved instead of the file); delete it and try again"
    )


def test_identify_gives_layout_and_depth(tmp_path):
    assert identify(read_weights(naoto_file(tmp_path / "n.pth", layers=5))) == ("naoto", 5)
    assert identify(read_weights(mmagic_file(tmp_path / "m.pth", layers=4))) == ("mmagic", 4)
    model = PConvUNet(layers=3, base_channels=8)
    assert identify({"step": 1, "model": model.state_dict(), "config": {"model": model_info(model)}}) == ("pconv", 3)
    with pytest.raises(ValueError, match="no layout pconv knows"):
        identify(UNet(features=(4, 8)).state_dict())
    with pytest.raises(ValueError, match="expected a state dict"):
        identify({"n_iter": 3, "model": [torch.ones(1)]})
