"""The package's top level: DESIGN.md's names resolve where it puts them, lazily from `pconv` too, cheaply."""

import importlib
import re
import subprocess
import sys

import pytest

import pconv

# DESIGN.md, "Modules and their public names", verbatim: paste it again when it changes.
DESIGN_TABLE = """
| `layers.py` | `PartialConv2d`, `partial_conv2d` (functional form) |
| `models.py` (+ parts, extensions, inputs) | `PConvUNet`, `PConvUNetPlus` (the non-paper extensions), `UNet` |
| `losses.py` | `InpaintingLoss`, `VGG16Features`, `gram_matrix`, `dice_loss`, `bce_dice_loss` |
| `vgg.py` | `VGG16Features`, `auto_vgg` (ImageNet weights from the hub cache, bounded download) |
| `masks.py` (+ maskdraw, maskfolder) | `irregular_mask`, `hole_ratio`, `PAPER_HOLE_BINS`, `MaskGenerator`, `MaskFolder`, `make_test_masks`, `load_test_masks` |
| `data.py` | `load_image`, `ImageLoadError`, `ImageFolderDataset`, `sample_images`, `SampleImageDataset`, `InpaintingDataset`, `CarvanaDataset` |
| `dataio.py` | `load_image`, `ImageLoadError`, `find_images`, `IMAGE_EXTENSIONS` (what the data modules share; `data.py` is their public face) |
| `kaggle.py` | `download`, `DATASETS`, `KaggleError` (and subclasses) |
| `train.py` (+ engine, runfolder, history, estimate, interrupts, rng) | `TrainConfig`, `Trainer`, `load_checkpoint` |
| `sizing.py` | `training_settings` (notebook 03's defaults for the device) |
| `runs.py` | `find_checkpoints`, `run_checkpoint`, `load_models` (the runs under `outputs/runs/`) |
| `metrics.py` | `psnr`, `ssim`, `l1_error`, `dice_score`, `iou_score` (and `evaluate_inpainting`, re-exported) |
| `evaluate.py` | `evaluate_inpainting`, `compare_methods`, `Comparison`, the per-bin report |
| `report.py` | `InpaintingReport`, `bin_of`, `bin_hole_range` (the one hole-bin rule) |
| `baselines.py` | classical inpainting for comparison: `harmonic_fill`, `harmonic`, `biharmonic` (scikit-image), `telea`, `navier_stokes` (OpenCV), `mean_fill`, `available_baselines` |
| `pretrained.py` (+ convert, fetch) | `PRETRAINED`, `from_state_dict`, `load_pretrained`, `cached`, `PretrainedError` (public PConv checkpoints, converted exactly) |
| `studio.py` (+ studio_image, studio_methods, studio_ui, studio_report) | `inpaint_studio`, `InpaintStudio` (draw a hole on your photo, compare fills) |
| `plot.py` | `show_inpainting`, `show_masks`, `plot_history`, `show_segmentation` |
| `plot_eval.py` | `plot_report`, `show_fills`, `show_errors`, `show_worst`, `sample_slider` |
| `plot_model.py` | `plot_mask_updates` (the update masks shrinking through the encoder) |
| `widgets.py` (+ panel, panel_controls, panel_plot, controls) | `training_panel`, `mask_explorer` |
| `cli.py`, `__main__.py` (+ commands, pretrained_cli) | `python -m pconv {train,evaluate,masks,download,pretrained}` |
"""  # noqa: E501
# In the contract but not in this tree yet; strict xfail, so each entry must go once it lands.
NOT_YET: set[tuple[str, str]] = set()  # DESIGN names still to land: none


def design_pairs() -> list[tuple[str, str]]:
    """(module, name) for every backticked Python name in the table's second column."""
    pairs = []
    for row in DESIGN_TABLE.strip().splitlines():
        first, names = row.strip("|").split("|")[:2]
        module = re.search(r"`(\w+)\.py`", first).group(1)
        pairs += [(module, n) for n in re.findall(r"`([A-Za-z_]\w*)`", names)]
    return pairs


DESIGN_PAIRS = [
    pytest.param(m, n, marks=pytest.mark.xfail(strict=True)) if {(m, n), (m, "*")} & NOT_YET else (m, n)
    for m, n in design_pairs()
]


def test_the_table_was_read():
    pairs = design_pairs()
    assert ("metrics", "evaluate_inpainting") in pairs and ("evaluate", "evaluate_inpainting") in pairs
    assert len(pairs) == 78 and all(m != "cli" for m, _ in pairs)  # the CLI row names commands, not objects


@pytest.mark.parametrize(("module", "name"), DESIGN_PAIRS)
def test_design_name_is_public_in_its_module(module, name):
    mod = importlib.import_module(f"pconv.{module}")
    assert name in mod.__all__, f"pconv.{module}.__all__ lacks {name!r} (DESIGN.md lists it there)"
    getattr(mod, name)  # AttributeError if __all__ advertises a name the module lacks


@pytest.mark.parametrize(("module", "name"), [p for p in design_pairs() if p[1] in pconv.__all__])
def test_lazy_top_level_name_is_the_modules_object(module, name):
    assert getattr(pconv, name) is getattr(importlib.import_module(f"pconv.{module}"), name)


def test_moved_names_are_one_object_everywhere():
    from pconv import evaluate, losses, metrics, vgg

    assert metrics.evaluate_inpainting is evaluate.evaluate_inpainting is pconv.evaluate_inpainting
    assert metrics.InpaintingReport is evaluate.InpaintingReport
    assert losses.VGG16Features is vgg.VGG16Features


@pytest.mark.parametrize("name", pconv.__all__)
def test_every_top_level_name_is_public_in_a_submodule(name):
    value = getattr(pconv, name)  # imports the submodule that holds it
    owners = [
        m
        for m, mod in list(sys.modules.items())
        if m.startswith("pconv.") and name in getattr(mod, "__all__", ()) and getattr(mod, name) is value
    ]
    assert owners, f"pconv.{name} is not a public name (in __all__) of any pconv submodule"


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        pconv.nope  # noqa: B018


def test_import_does_not_load_kaggle_widgets_torch_or_any_submodule():
    loaded = "m.split('.')[0] in ('kaggle', 'ipywidgets', 'torch') or m.startswith('pconv.')"
    code = f"import sys, pconv; print(sorted(m for m in sys.modules if {loaded}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"  # the lazy exports keep `import pconv` cheap
