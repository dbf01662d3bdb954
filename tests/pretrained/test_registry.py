"""pconv.pretrained.registry: the entries record their sources faithfully (URLs, hashes, what the configs
say), and an unknown name is one PretrainedError listing the known ones. The cache and the downloads:
tests/pretrained/test_cache.py."""

from __future__ import annotations

import re

import pytest

from pconv.pretrained import PRETRAINED, PretrainedError, cached
from pconv.pretrained.registry import entry


def test_registry_records_the_sources():
    assert list(PRETRAINED)[:3] == ["naoto-places2", "mmagic-places2", "mmagic-celeba"]
    for name, e in PRETRAINED.items():
        assert e.url.startswith("https://") and e.filename.endswith(".pth"), name
        assert e.source in ("naoto", "mmagic") and e.resolution == 256 and e.layers == 7
        assert e.license and e.citation.startswith("@inproceedings{liu2018image") and e.page
        if e.source == "mmagic":  # the 8 hex digits before .pth are the start of the SHA-256
            assert e.sha256 is None and e.filename.endswith(f"-{e.sha256_prefix}.pth") and e.name_published
            assert re.fullmatch(r"[0-9a-f]{8}", e.sha256_prefix) and e.hash == e.sha256_prefix
    assert PRETRAINED["mmagic-places2"].published == {"psnr": 22.762, "ssim": 0.801, "l1": 8.776}
    assert PRETRAINED["mmagic-celeba"].published == {"psnr": 25.404, "ssim": 0.853, "l1": 5.990}
    assert cached() == []


def test_naotos_file_name_is_marked_unpublished_and_its_page_is_the_release():
    naoto = PRETRAINED["naoto-places2"]
    assert not naoto.name_published and naoto.hash is None and not naoto.published
    assert naoto.page == "https://github.com/naoto0804/pytorch-inpainting-with-partial-conv/releases/tag/v0.0.0"
    assert naoto.filename == "1000000.pth" and "no published source names its asset" in naoto.notes


def test_the_notes_give_the_training_the_configs_give():
    """mmagic's 2020 configs (configs/inpainting/partial_conv/pconv_256x256_stage2_4x2_*.py): CelebA ran
    total_iters = 300002 at samples_per_gpu = 1, Places 500000 at 12; stage 1 800002 at lr 2e-4."""
    celeba, places = PRETRAINED["mmagic-celeba"].notes, PRETRAINED["mmagic-places2"].notes
    assert "300,002 iterations, batch 1 per GPU" in celeba and "500,000" not in celeba
    assert "500,000 iterations, batch 12 per GPU" in places
    for notes in (celeba, places):
        assert "Adam lr 5e-5" in notes and "800,002 iterations" in notes and "4 GPUs x batch 2" not in notes
    assert "batch 16" in PRETRAINED["naoto-places2"].notes


def test_an_unknown_name_lists_the_known_ones():
    with pytest.raises(PretrainedError, match="no pretrained model named 'nope'; known: naoto-places2, mmagic-places2"):
        entry("nope")
