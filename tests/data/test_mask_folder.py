"""Tests for pconv/maskfolder.py: mask files read with one polarity per folder, alpha masks,
oversized headers, the paper's augmentation, and files that break."""

from __future__ import annotations

import pickle
import warnings

import pytest
import torch
from crafted import png_claiming
from PIL import Image, ImageDraw

from pconv.data import MaskFolder, hole_ratio
from pconv.data.mask_folder import read_white, vote_polarity


def _nvidia_style(path, size=(60, 80)):
    """White strokes (holes) on black, as in NVIDIA's irregular mask set, with anti-aliased grey edges."""
    im = Image.new("L", size[::-1], 0)
    ImageDraw.Draw(im).line([(5, 5), (70, 50)], fill=255, width=9)
    im.putpixel((0, 0), 100)  # below 0.6 * 255: binarised to black
    im.save(path)
    return im


def _valid_white(path, size=(60, 80)):
    im = Image.new("L", size[::-1], 200)  # max 200: threshold at 120
    ImageDraw.Draw(im).rectangle((10, 10, 30, 40), fill=0)
    im.save(path)
    return im


def _heavy(path, size=(60, 80)):
    """NVIDIA's convention (white = hole) with holes over 70% of the mask: more white than black."""
    im = Image.new("L", size[::-1], 255)
    ImageDraw.Draw(im).rectangle((0, 0, 79, 17), fill=0)  # 18 of 60 rows valid
    im.save(path)
    return im


def test_mask_folder_polarity_is_decided_once_for_the_folder(tmp_path):
    for i in range(3):
        _nvidia_style(tmp_path / f"{i}.png")
    _heavy(tmp_path / "3_heavy.png")
    with pytest.warns(UserWarning, match=r"reads white as hole in every file: 3 of the 4 .*3_heavy\.png") as caught:
        ds = MaskFolder(tmp_path, (60, 80), augment=False)
    assert len(caught) == 1 and ds.invert is True
    heavy = ds[3]  # read as NVIDIA's like the rest, not flipped on its own
    assert heavy[0, :18].min() == 1 and heavy[0, 18:].max() == 0 and hole_ratio(heavy) == pytest.approx(0.7)
    nv = ds[0]
    assert nv[0, 0, 0] == 1 and nv[0, 20, 27] == 0 and hole_ratio(nv) < 0.5  # strokes became holes
    assert pickle.loads(pickle.dumps(ds)).invert is True  # workers get the decision, they do not vote again


def test_mask_folder_polarity_each_convention_and_forced(tmp_path):
    (tmp_path / "nv").mkdir()
    (tmp_path / "ours").mkdir()
    _nvidia_style(tmp_path / "nv" / "a.png")
    _valid_white(tmp_path / "ours" / "b.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # files that agree: no warning
        nv, ours = MaskFolder(tmp_path / "nv", (60, 80), augment=False), MaskFolder(tmp_path / "ours", (60, 80), False)
    assert nv.invert is True and ours.invert is False
    assert ours[0][0, 20, 20] == 0 and ours[0][0, 50, 70] == 1 and hole_ratio(ours[0]) == pytest.approx(21 * 31 / 4800)
    both = tmp_path / "nv"
    _valid_white(both / "b.png")
    with pytest.warns(UserWarning, match="1 of the 2"):  # a tie reads NVIDIA's way
        assert MaskFolder(both, (60, 80), augment=False).invert is True
    forced = MaskFolder(both, (60, 80), augment=False, invert=False)  # white = valid for every file
    assert torch.equal(forced[0], 1 - nv[0]) and torch.equal(forced[1], ours[0])
    assert torch.equal(MaskFolder(both, (60, 80), augment=False, invert=True)[1], 1 - ours[0])
    with pytest.raises(ValueError, match="invert"):
        MaskFolder(tmp_path, 32, invert="yes")
    with pytest.raises(ValueError, match="dilation"):
        MaskFolder(tmp_path, 32, dilation=(20, 5))


def test_vote_spreads_its_reads_over_big_folders(tmp_path):
    files = []
    for i in range(7):  # files 0, 3 and 6 have more white than black
        files.append(tmp_path / f"{i}.png")
        (_heavy if i % 3 == 0 else _nvidia_style)(files[-1])
    vote = vote_polarity(files, votes=3)
    assert vote == (False, [files[0], files[3], files[6]], [], [])
    assert vote_polarity(files).white_is_hole is True and len(vote_polarity(files).dissent) == 3


def test_mask_folder_reads_alpha_when_present(tmp_path):
    """Strokes painted on a transparent layer: the colour is black everywhere, only alpha tells the holes."""
    (tmp_path / "painted").mkdir()
    im = Image.new("RGBA", (80, 60), (0, 0, 0, 0))
    ImageDraw.Draw(im).rectangle((10, 10, 29, 39), fill=(0, 0, 0, 255))
    im.save(tmp_path / "painted" / "a.png")
    ds = MaskFolder(tmp_path / "painted", (60, 80), augment=False)
    expected = torch.ones(1, 60, 80)
    expected[:, 10:40, 10:30] = 0
    assert ds.invert is True and torch.equal(ds[0], expected)
    Image.new("LA", (8, 6), (255, 255)).save(tmp_path / "white.png")  # a constant alpha: the grey counts
    Image.new("LA", (8, 6), (0, 255)).save(tmp_path / "black.png")
    assert read_white(tmp_path / "white.png").all() and not read_white(tmp_path / "black.png").any()


@pytest.mark.parametrize("side", [10_000, 20_000])
def test_mask_folder_refuses_absurd_sizes_before_decoding(tmp_path, side):
    _nvidia_style(tmp_path / "good.png")
    png_claiming(tmp_path / "bomb.png", side, side)
    with pytest.warns(UserWarning, match=r"bomb\.png: .*decompression bomb"):
        ds = MaskFolder(tmp_path, 32)
    assert [p.name for p in ds.files] == ["good.png"] and ds.skipped[0][0].name == "bomb.png"


def test_mask_folder_augmentation_is_binary_sized_and_seeded(tmp_path):
    (tmp_path / "sub").mkdir()
    for i in range(3):
        _nvidia_style(tmp_path / "sub" / f"{i}.png", size=(128, 128))
    ds = MaskFolder(tmp_path, (40, 56), seed=3)
    ms = [ds[i] for i in range(3)]
    for m in ms:
        assert m.shape == (1, 40, 56) and set(m.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(ms[0], MaskFolder(tmp_path, (40, 56), seed=3)[0])  # same seed, same mask
    assert not torch.equal(ms[0], ms[1])  # same file, other index
    no_dil = MaskFolder(tmp_path, (40, 56), seed=3, dilation=(0, 0))[0]
    assert hole_ratio(ms[0]) >= hole_ratio(no_dil)  # dilation only grows holes


def test_mask_folder_unreadable_and_empty(tmp_path):
    _nvidia_style(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("ignored")
    with pytest.warns(
        UserWarning, match=r"MaskFolder\(.*\): skipping 1 unreadable file\(s\):\n.*broken\.png"
    ) as caught:
        ds = MaskFolder(tmp_path, 32)
    assert caught[0].filename == __file__  # the warning points at the user's line
    assert len(ds) == 1 and ds[0].shape == (1, 32, 32)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no readable mask images"):
        MaskFolder(empty, 32)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        MaskFolder(tmp_path / "missing", 32)


def test_mask_folder_file_that_breaks_mid_epoch_is_replaced(tmp_path):
    for name in ("a.png", "b.png"):
        _nvidia_style(tmp_path / name)
    ds = MaskFolder(tmp_path, 32, augment=False)
    (tmp_path / "a.png").write_bytes((tmp_path / "a.png").read_bytes()[:60])  # truncated after the header
    with pytest.warns(UserWarning, match="a.png"):
        m = ds[0]
    assert torch.equal(m, ds[1])
