"""pconv.train: training runs, their checkpoints and the sized recipes.

`Trainer(model, loss_fn, TrainConfig(...)).fit(train_data, val_data)` runs the schedule of
Liu et al. 2018 (arXiv:1804.07723: Adam at 2e-4, then fine-tuning at 5e-5 with the encoder's
BatchNorm frozen) for inpainting, or a U-Net for segmentation; checkpoints are plain dicts
(`load_checkpoint`, `model_from_checkpoint`); `quickstart` and `training_settings` are the
sized configurations the notebooks, the CLI and the benchmarks start from; `find_checkpoints`
discovers runs.

Imports: `pconv.evaluation`, `pconv.nn`, `pconv.data`, `pconv.utils`; never `pconv.pretrained`
or a room above (pyproject.toml, [tool.importlinter]). Start with trainer.py, then engine.py and
tasks.py; docs/architecture.md follows one step through them.
"""

from pconv.train.ablation_estimate import estimate_ablation
from pconv.train.ablation_scores import HOLE_VALUES, hole_value_sensitivity, score_inpainting, score_segmentation
from pconv.train.ablations import INPAINTING_ARMS, SEGMENTATION_ARMS, ablation_settings, train_arms
from pconv.train.callbacks import LivePlot, StopAfter
from pconv.train.checkpoint import (
    CheckpointError,
    checkpoint_step,
    list_checkpoints,
    load_checkpoint,
    newest_good,
    save_checkpoint,
)
from pconv.train.checkpoint_checks import non_finite_tensor
from pconv.train.checkpoint_model import model_from_checkpoint, model_info
from pconv.train.config import SEED_MAX, ConfigError, TrainConfig
from pconv.train.divergence import TrainingDivergedError
from pconv.train.interrupts import exit_status, signal_of, sigterm_interrupts
from pconv.train.recipes import quickstart
from pconv.train.run_folder import RunExistsError, RunFolderError
from pconv.train.runs import best_runs, checkpoint_task, find_checkpoints, load_models, run_checkpoint, run_folders
from pconv.train.size_table import SIZES, device_kind
from pconv.train.sizing import training_settings
from pconv.train.trainer import Trainer

__all__ = [
    "CheckpointError",
    "ConfigError",
    "HOLE_VALUES",
    "INPAINTING_ARMS",
    "LivePlot",
    "RunExistsError",
    "RunFolderError",
    "SEED_MAX",
    "SEGMENTATION_ARMS",
    "SIZES",
    "StopAfter",
    "TrainConfig",
    "Trainer",
    "TrainingDivergedError",
    "ablation_settings",
    "best_runs",
    "checkpoint_step",
    "checkpoint_task",
    "device_kind",
    "estimate_ablation",
    "exit_status",
    "find_checkpoints",
    "hole_value_sensitivity",
    "list_checkpoints",
    "load_checkpoint",
    "load_models",
    "model_from_checkpoint",
    "model_info",
    "newest_good",
    "non_finite_tensor",
    "quickstart",
    "run_checkpoint",
    "run_folders",
    "save_checkpoint",
    "score_inpainting",
    "score_segmentation",
    "signal_of",
    "sigterm_interrupts",
    "train_arms",
    "training_settings",
]
