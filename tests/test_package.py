"""The package's top level: DESIGN.md's names resolve where it puts them, lazily from `pconv` too, cheaply."""

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import pconv

# DESIGN.md, "Subpackages and their public names", verbatim: paste it again when it changes.
DESIGN_TABLE = """
| `pconv.nn` | `PartialConv2d`, `partial_conv2d`, `PConvUNet`, `UNet`, `composite`, `InpaintingLoss`, `VGG16Features`, `gram_matrix`, `dice_loss`, `bce_dice_loss` |
| `pconv.data` | `load_image`, `ImageLoadError`, `ImageFolderDataset`, `sample_images`, `SampleImageDataset`, `InpaintingDataset`, `CarvanaDataset`, `irregular_mask`, `hole_ratio`, `PAPER_HOLE_BINS`, `MaskGenerator`, `MaskFolder`, `make_test_masks`, `load_test_masks`, `download`, `DATASETS`, `KaggleError` |
| `pconv.evaluation` | `psnr`, `ssim`, `l1_error`, `dice_score`, `iou_score`, `evaluate_inpainting`, `available_baselines`, `harmonic`, `biharmonic`, `telea`, `navier_stokes`, `patchmatch`, `mean_fill` |
| `pconv.train` | `TrainConfig`, `Trainer`, `load_checkpoint` |
| `pconv.pretrained` | `PRETRAINED`, `from_state_dict`, `load_pretrained` |
| `pconv.notebook` | `show_inpainting`, `show_masks`, `plot_history`, `show_segmentation`, `training_panel`, `mask_explorer`, `inpaint_studio`, `InpaintStudio` |
| `pconv.cli` | `python -m pconv {train,evaluate,masks,download,pretrained}` |
"""  # noqa: E501
# What each room exports beyond that table: the names the other rooms, the notebooks and the
# benchmarks use. DESIGN.md is the shared contract and read-only here; the closing notes list these.
ADDED_TABLE = """
| `pconv.nn` | `CONVS`, `Inpainter`, `MODELS`, `PConvUNetWithStem`, `upgrade_model_info`, `VGGWeightsError` |
| `pconv.data` | `bin_label`, `bin_of`, `credentials_status`, `default_num_workers`, `displayed_size`, `endless_batches`, `exif_upright`, `FAMILIES`, `find_images`, `first_batch`, `fixed_test_masks`, `loader_seed`, `make_loader`, `MaskSetError`, `publish_folder`, `sample_inpainting_data`, `sample_names`, `sample_photo`, `SyntheticShapesDataset`, `to_device`, `to_tensor` |
| `pconv.evaluation` | `border_dice`, `compare_methods`, `METRICS`, `per_image_scores`, `predict_probs`, `save_mask_pngs` |
| `pconv.train` | `ablation_settings`, `best_runs`, `checkpoint_step`, `checkpoint_task`, `CheckpointError`, `ConfigError`, `device_kind`, `estimate_ablation`, `exit_status`, `find_checkpoints`, `HOLE_VALUES`, `hole_value_sensitivity`, `INPAINTING_ARMS`, `list_checkpoints`, `LivePlot`, `load_models`, `model_from_checkpoint`, `model_info`, `newest_good`, `non_finite_tensor`, `quickstart`, `run_checkpoint`, `run_folders`, `RunExistsError`, `RunFolderError`, `save_checkpoint`, `score_inpainting`, `score_segmentation`, `SEED_MAX`, `SEGMENTATION_ARMS`, `signal_of`, `sigterm_interrupts`, `SIZES`, `StopAfter`, `train_arms`, `training_settings`, `TrainingDivergedError` |
| `pconv.pretrained` | `cache_path`, `cache_state`, `CacheState`, `cached`, `download_pretrained`, `PretrainedError`, `sha256_of`, `SOURCES` |
| `pconv.notebook` | `comparison_figure`, `discover_methods`, `plot_dice_histogram`, `plot_mask_updates`, `plot_report`, `plot_seed_bars`, `plot_seed_lines`, `sample_slider`, `show_errors`, `show_fills`, `show_worst` |
| `pconv.cli` | `main` |
"""  # noqa: E501
# In the contract but not in this tree yet; strict xfail, so each entry must go once it lands.
NOT_YET: set[tuple[str, str]] = set()
ROOMS = ("nn", "data", "evaluation", "train", "pretrained", "notebook", "cli")


def landed(module: str, name: str) -> bool:
    return not {(module, name), (module, "*")} & NOT_YET


def design_pairs() -> list[tuple[str, str]]:
    """(module, name) for every backticked Python name in the tables' second column."""
    pairs = []
    for row in (DESIGN_TABLE + ADDED_TABLE).split("\n"):
        if not row.strip():
            continue
        first, names = row.strip("|").split("|")[:2]
        module = re.search(r"`pconv\.(\w+)`|`(\w+)\.py`", first)
        pairs += [(module.group(1) or module.group(2), n) for n in re.findall(r"`([A-Za-z_]\w*)`", names)]
    return pairs


DESIGN_PAIRS = [
    (m, n) if landed(m, n) else pytest.param(m, n, marks=pytest.mark.xfail(strict=True)) for m, n in design_pairs()
]


def test_the_table_was_read():
    pairs = design_pairs()
    assert ("nn", "composite") in pairs and ("train", "quickstart") in pairs
    assert len(pairs) == len(set(pairs)) == 144 and {m for m, _ in pairs} == set(ROOMS)


def test_the_pasted_table_is_design_md_s():
    design = Path(__file__).resolve().parents[2] / "shared" / "DESIGN.md"
    if not design.is_file():
        pytest.skip(f"no {design} beside this checkout: nothing to compare the pasted table with")
    assert DESIGN_TABLE.strip() in design.read_text(encoding="utf-8"), "DESIGN.md's table changed: paste it again"


@pytest.mark.parametrize(("module", "name"), DESIGN_PAIRS)
def test_design_name_is_public_in_its_module(module, name):
    mod = importlib.import_module(f"pconv.{module}")
    assert name in mod.__all__, f"pconv.{module}.__all__ lacks {name!r} (the tables above list it there)"
    getattr(mod, name)  # AttributeError if __all__ advertises a name the module lacks


@pytest.mark.parametrize(("module", "name"), [p for p in design_pairs() if p[1] in pconv.__all__ and landed(*p)])
def test_lazy_top_level_name_is_the_modules_object(module, name):
    assert getattr(pconv, name) is getattr(importlib.import_module(f"pconv.{module}"), name)


@pytest.mark.parametrize("room", ROOMS)
def test_a_room_exports_exactly_its_tables_names(room):
    listed = {n for m, n in design_pairs() if m == room and landed(m, n)}
    assert set(importlib.import_module(f"pconv.{room}").__all__) == listed


def test_the_figures_have_one_public_path():
    # Defined in pconv.evaluation.figures (the trainer saves sample grids with them), public in pconv.notebook.
    from pconv.evaluation import figures

    notebook, evaluation = importlib.import_module("pconv.notebook"), importlib.import_module("pconv.evaluation")
    for name in ("show_inpainting", "show_masks", "plot_history", "show_segmentation"):
        assert getattr(notebook, name) is getattr(figures, name) and name not in evaluation.__all__


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
