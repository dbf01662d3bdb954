"""The public checkpoints of the paper's network (Liu et al. 2018, arXiv:1804.07723): what and where they are.

    from pconv.pretrained import PRETRAINED, cached, load_pretrained
    model = load_pretrained("mmagic-celeba")          # downloaded once, checked, eval mode
    result = model.inpaint(image, mask)                # [0, 1] RGB in and out, like every model here
    model = load_pretrained("1000000.pth")             # or a file downloaded by hand

`PRETRAINED` records where each file comes from, how to check it and what its sources say
about it (their configs and READMEs, quoted in `notes`). The files themselves are kept by
`pconv.pretrained.cache`, read by `pconv.pretrained.files` and converted exactly by
`pconv.pretrained.convert`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CITATION", "PRETRAINED", "Pretrained", "PretrainedError", "entry"]

CITATION = (
    "@inproceedings{liu2018image, title={Image Inpainting for Irregular Holes Using Partial Convolutions}, "
    "author={Liu, Guilin and Reda, Fitsum A. and Shih, Kevin J. and Wang, Ting-Chun and Tao, Andrew and "
    "Catanzaro, Bryan}, booktitle={Proceedings of the European Conference on Computer Vision (ECCV)}, "
    "pages={85--100}, year={2018}}"
)


@dataclass(frozen=True)
class Pretrained:
    """One public checkpoint: where it is, how to check it, what it was trained on, what was published.

    `sha256` is the full digest when one is published (None otherwise); `sha256_prefix` the
    start of it that a file name carries (mmagic's `-1ffed0e8.pth`). With neither, a file is
    checked by its structure: its layout is `source`'s and it has `layers` layers.
    `name_published` False: the file's name is not published (naoto's release asset), so
    `url` ends in a guess and any one .pth/.pt file in the model's folder is taken.
    `published` holds the source's own figures ({"psnr", "ssim", "l1"}), on its test set and
    masks (`notes`), not comparable with pconv's evaluation as they stand.
    """

    url: str
    source: str
    data: str
    resolution: int
    layers: int
    license: str
    page: str
    notes: str
    sha256: str | None = None
    sha256_prefix: str | None = None
    name_published: bool = True
    published: dict[str, float] = field(default_factory=dict)
    citation: str = CITATION

    @property
    def filename(self) -> str:
        """The name the file is downloaded under (for `name_published=False`, the guess in `url`)."""
        return self.url.rsplit("/", 1)[-1]

    @property
    def hash(self) -> str | None:
        """What a file's SHA-256 must start with (the full digest is its own prefix); None: unknown."""
        return (self.sha256 or self.sha256_prefix or "").lower() or None


_NAOTO = "https://github.com/naoto0804/pytorch-inpainting-with-partial-conv"
_MMAGIC = "https://download.openmmlab.com/mmediting/inpainting/pconv/"
_MMAGIC_PAGE = "https://github.com/open-mmlab/mmagic/tree/main/configs/partial_conv"  # its README links the files
# What mmagic's 2020 configs (mmediting, configs/inpainting/partial_conv/pconv_256x256_*.py) say; the
# README's table gives 500k iterations for every row, 8 GPUs for stage 1 and 4 for stage 2.
_MMAGIC_NOTES = (
    "Stage 2 of 2: fine-tuning with the encoder's BatchNorm frozen, Adam lr 5e-5 (stage 1: lr 2e-4, "
    "800,002 iterations in its config, 8 GPUs). {stage2} The README's table says 500k iterations and 4 GPUs; "
    "the file name's 4x2 reads 4 GPUs x 2 images, which the config does not say. Free-form masks of mmagic's "
    "LoadMask (irregular, 15-65% of the image), random 384x384 crops resized to 256x256; mmediting 2020-06-19. "
    "The figures are mmagic's, on its validation set and masks. Trained on BGR images in [-1, 1] (converted "
    "to RGB here). The 8 hex digits of the file name are the start of its SHA-256 (mmagic's publish_model)."
)

PRETRAINED: dict[str, Pretrained] = {
    "naoto-places2": Pretrained(
        url=_NAOTO + "/releases/download/v0.0.0/1000000.pth",
        source="naoto",
        data="Places2 (Places365-Challenge, ~8M images)",
        resolution=256,
        layers=7,
        license="MIT (naoto0804/pytorch-inpainting-with-partial-conv); Places2's terms apply to the data",
        page=_NAOTO + "/releases/tag/v0.0.0",
        notes=(
            "500k iterations (Adam lr 2e-4), then 500k fine-tuning with the encoder's BatchNorm frozen "
            "(lr 5e-5), batch 16 (the README; the rates and batch are train.py's defaults); the author does "
            "not vouch for its quality and publishes no figures or hash. Masks of the chainer "
            "reimplementation's generator, not the paper's. File name: the README links only the release "
            "page v0.0.0, and no published source names its asset; train.py saves iteration 1,000,000 as "
            "1000000.pth, the name of the copy the README (2018-10 to 2019-01) and issue #22 linked on Dropbox, "
            "later on Google Drive (ids 1SYjJ-Vlu2cpAlgBG5FiJueN9W4lf48w8, 1PgcE4hNlf7ML5H68wd5nXwQXa9YBKGzO). "
            "The download tries that name; a file of any name placed in the model's folder is taken."
        ),
        name_published=False,
    ),
    "mmagic-places2": Pretrained(
        url=_MMAGIC + "pconv_256x256_stage2_4x2_places_20200619-1ffed0e8.pth",
        sha256_prefix="1ffed0e8",
        source="mmagic",
        data="Places365-Challenge",
        resolution=256,
        layers=7,
        license="Apache-2.0 (open-mmlab/mmagic); Places365's terms apply to the data",
        page=_MMAGIC_PAGE,
        notes=_MMAGIC_NOTES.format(stage2="Stage 2's config: 500,000 iterations, batch 12 per GPU (stage 1 too).")
        + " Test set: Places365-val.",
        published={"psnr": 22.762, "ssim": 0.801, "l1": 8.776},
    ),
    "mmagic-celeba": Pretrained(
        url=_MMAGIC + "pconv_256x256_stage2_4x2_celeba_20200619-860f8b95.pth",
        sha256_prefix="860f8b95",
        source="mmagic",
        data="CelebA-HQ",
        resolution=256,
        layers=7,
        license="Apache-2.0 (open-mmlab/mmagic); CelebA-HQ is for non-commercial research",
        page=_MMAGIC_PAGE,
        notes=_MMAGIC_NOTES.format(stage2="Stage 2's config: 300,002 iterations, batch 1 per GPU (stage 1 too).")
        + " Test set: CelebA-val.",
        published={"psnr": 25.404, "ssim": 0.853, "l1": 5.990},
    ),
}


class PretrainedError(RuntimeError):
    """A pretrained model cannot be had: unknown name, no network, bad file, hash mismatch; says what to do."""


def entry(name: str) -> Pretrained:
    """`PRETRAINED[name]`, or a PretrainedError listing the known names."""
    if name not in PRETRAINED:
        raise PretrainedError(f"no pretrained model named {name!r}; known: {', '.join(PRETRAINED)} (or pass a file)")
    return PRETRAINED[name]
