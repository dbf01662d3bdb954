"""pconv.train."""

from pconv.train.callbacks import LivePlot, StopAfter
from pconv.train.checkpoint import (
    CheckpointError,
    checkpoint_step,
    list_checkpoints,
    load_checkpoint,
    model_from_checkpoint,
    model_info,
    save_checkpoint,
)
from pconv.train.checkpoint_checks import non_finite_tensor
from pconv.train.config import SEED_MAX, ConfigError, TrainConfig
from pconv.train.interrupts import exit_status, signal_of, sigterm_interrupts
from pconv.train.recipes import quickstart
from pconv.train.run_folder import RunExistsError, RunFolderError
from pconv.train.runs import checkpoint_task, find_checkpoints, load_models, run_checkpoint
from pconv.train.sizing import training_settings
from pconv.train.trainer import Trainer, TrainingDivergedError

__all__ = [
    "CheckpointError",
    "ConfigError",
    "LivePlot",
    "RunExistsError",
    "RunFolderError",
    "SEED_MAX",
    "StopAfter",
    "TrainConfig",
    "Trainer",
    "TrainingDivergedError",
    "checkpoint_step",
    "checkpoint_task",
    "exit_status",
    "find_checkpoints",
    "list_checkpoints",
    "load_checkpoint",
    "load_models",
    "model_from_checkpoint",
    "model_info",
    "non_finite_tensor",
    "quickstart",
    "run_checkpoint",
    "save_checkpoint",
    "signal_of",
    "sigterm_interrupts",
    "training_settings",
]
