"""One plain trainer for inpainting and segmentation: the schedule of a run, checkpoints and resume.

Follows the paper's schedule for partial-convolution inpainting (Liu et al. 2018,
Sec. 5.1): Adam at lr 2e-4, then fine-tuning at lr 5e-5 with the encoder's batch
norm frozen for the last `finetune_steps` of the `steps` in total. What one step
means (loss, metrics, sample figure) comes from a task hook in `pconv.train.tasks`; how a
step runs (AMP, DDP, torch.compile) from `pconv.train.engine`; why a run stops early
(non-finite losses or weights) from `pconv.train.divergence`.

    trainer = Trainer(model, loss_fn, TrainConfig(steps=2000, batch_size=8, out="runs/a"))
    history = trainer.fit(train_data, val_data)           # later: .fit(..., resume=True)

Reproducible and resumable: the data order is a permutation seeded by (seed, epoch)
and a checkpoint holds the step, the weights, the optimizer, the AMP scaler and all
RNG streams, so `fit(resume=True)` continues exactly where the run stopped. Under
`torchrun` the model is wrapped in DistributedDataParallel, each rank reads its
shard of that permutation (`batch_size` is per rank) and only rank 0 logs and writes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from pconv.data import endless_batches, first_batch, loader_seed, make_loader
from pconv.train.config import TrainConfig
from pconv.train.divergence import non_finite_losses, non_finite_weights
from pconv.train.engine import Engine
from pconv.train.estimate import StepTimer
from pconv.train.history import LossWindow, merge_row, record_best
from pconv.train.interrupts import defer_interrupt, signal_of, sigterm_interrupts
from pconv.train.rng import capture_rng, restore_rng, seed_everything
from pconv.train.run_folder import RunFolder
from pconv.train.tasks import infer_task
from pconv.utils import output_dir

__all__ = ["Trainer"]

log = logging.getLogger("pconv.train.trainer")


class Trainer:
    """Train `model` with `loss_fn` per `config`; `task` (default: inferred) says what a step is.

    Args:
        model: e.g. `PConvUNet` (inpainting, has `.inpaint`) or `UNet` (segmentation).
        loss_fn: `InpaintingLoss(...)` / `bce_dice_loss`: returns a scalar or a dict with "total".
        config: a `TrainConfig` (default values if None).
        task: `InpaintingTask()`, `SegmentationTask()` or a custom hook; None infers it.
        callbacks: objects with some `pconv.train.callbacks.Callback` methods, e.g. `LivePlot()`.
    """

    def __init__(
        self,
        model: nn.Module,
        loss_fn: Any,
        config: TrainConfig | None = None,
        task: Any = None,
        callbacks: Sequence[Any] = (),
    ):
        cfg = replace(config) if config is not None else TrainConfig()
        if cfg.out is None:
            cfg.out = str(output_dir() / "runs" / time.strftime("%Y%m%d-%H%M%S"))
        self.config, self.out = cfg, Path(cfg.out)
        self.folder = RunFolder(self.out)
        self.task, self.callbacks, self.loss_fn = task or infer_task(model), list(callbacks), loss_fn
        distributed = dist.is_available() and dist.is_initialized()
        self.rank, self.world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
        self.engine = Engine(model, loss_fn, self.task, cfg, self.world)
        self.model, self.device, self.optimizer = self.engine.model, self.engine.device, self.engine.optimizer
        self.scaler, self.amp = self.engine.scaler, self.engine.amp
        self.step, self.history, self.skipped_steps = 0, [], 0
        self.best: dict[str, Any] = {"metric": f"val/{self.task.best_metric}", "value": None, "step": None}
        self._stop, self._saved_step, self._rng = False, -1, (-1, None)
        self.interrupted = None  # the signal (SIGINT, SIGTERM) that ended the last fit, if one did
        self.estimate = None  # the last fit's `pconv.train.estimate.Estimate`, once its first steps were timed

    # ------------------------------------------------------------------ public
    def stop(self) -> None:
        """Ask `fit` to end after the current step, with a checkpoint (the widgets' Stop button)."""
        self._stop = True

    def fit(
        self,
        train_data: Dataset | DataLoader,
        val_data: Dataset | DataLoader | None = None,
        *,
        resume: bool | str | Path = False,
    ) -> list[dict[str, Any]]:
        """Train up to `config.steps`; returns the history (also in out/history.json and .csv).

        Args:
            train_data: a Dataset of {"image", "mask"} dicts (or (image, mask) pairs): the trainer
                builds a seeded, resumable loader; or a DataLoader, used as is (on resume it
                restarts from its beginning, so the data order is then best-effort).
            val_data: held-out data for `val/<metric>` every `val_every` steps and the samples.
            resume: False: start fresh (refuses a folder that holds checkpoints); True: continue
                from the newest `ckpt_<step>.pt` in `out` that passes the checks of
                `pconv.train.checkpoint_checks` (by the step recorded inside; each one skipped is logged with
                the reason); a path: from that checkpoint.

        It says what it trains and, once its first steps are timed, how long the rest takes (`estimate`).

        Ctrl-C (SIGINT, Jupyter's stop button), SIGTERM, SIGHUP (the terminal closed) and
        `stop()` end the run after the current step with a checkpoint; `interrupted` then holds
        the signal, if one came. Signals that follow the first are ignored until the
        checkpoint is saved.

        Raises:
            RunExistsError: `out` holds checkpoints and `resume` is False.
            RunFolderError: `out` is a file or cannot be written; RunLockedError: another run holds it.
            TrainingDivergedError: `max_bad_steps` non-finite losses in a row, or non-finite
                weights; never saved: the message names the last good checkpoint.
            CheckpointWriteError: a checkpoint could not be written (full disk, permissions: a
                `WriteFailedError`); the earlier ones are intact.
        """
        self._stop, self.interrupted, self.estimate = False, None, None
        # the sample batch is read before any seeding, so that resuming sees the same RNG streams
        sample_batch = first_batch(val_data if val_data is not None else train_data) if self.rank == 0 else None
        with self.folder.locked() if self.rank == 0 else nullcontext(), sigterm_interrupts():
            self._start(resume)
            self._run(train_data, val_data, sample_batch)
        self._call("on_fit_end", self.history)
        return self.history

    def save_checkpoint(self, best: bool = False, barrier: bool = True) -> Path:
        """Write out/ckpt_<step>.pt (and best.pt) atomically on rank 0, then prune to `keep_last`.

        Raises:
            TrainingDivergedError: the weights are not finite (nothing is written).
        """
        if not self.engine.weights_finite():  # the same on every rank: they all stop here
            raise non_finite_weights(self.step, self.folder.newest, self.config.lr)
        path = self.out / f"ckpt_{self.step}.pt"
        if barrier and self.world > 1:
            dist.barrier()
        if self.rank == 0:
            snap_step, snap = self._rng
            ckpt = {
                "step": self.step,
                **self.engine.state(),
                "best": dict(self.best),
                "history": list(self.history),
                "config": {**self.config.to_dict(), "model": self.engine.model_info, "task": self.task.name},
                "rng": snap if snap_step == self.step else capture_rng(),
                "skipped_steps": self.skipped_steps,
            }
            with defer_interrupt():  # a signal now is raised once the checkpoint is whole and recorded
                self.folder.save(ckpt, best, self.config.keep_last)
                self._saved_step = self.step
                self.folder.write_history(self.history)
                log.info("saved %s", path)
            self._call("on_checkpoint", path)
        if barrier and self.world > 1:
            dist.barrier()
        self._saved_step = self.step
        return path

    def validate(self, val_loader: Any) -> dict[str, float]:
        """Mean `task.metrics` over at most `val_batches` batches, as {"val/<name>": value}."""
        return {f"val/{k}": v for k, v in self.engine.validate(val_loader, self.config.val_batches).items()}

    # ------------------------------------------------------------------ the schedule
    def _run(self, train_data: Any, val_data: Any, sample_batch: Any) -> None:
        """Steps from `self.step` to `config.steps` (or a stop), then the final checkpoint."""
        cfg, cuda = self.config, self.device.type == "cuda"
        batches = endless_batches(
            train_data, cfg.batch_size, cfg.seed, self.step, self.rank, self.world, cfg.num_workers, cuda
        )
        val_loader = val_data
        if val_data is not None and not isinstance(val_data, DataLoader):
            val_seed = loader_seed(cfg.seed, -1, 0)
            val_loader = make_loader(val_data, cfg.batch_size, cfg.num_workers, cuda, val_seed, drop_last=False)
        window, bad_run = LossWindow(), 0
        show = cfg.progress and self.rank == 0
        timer = StepTimer(self, val_loader, sample_batch, show)
        timer.start()  # says what is trained
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not show, desc=self.task.name, dynamic_ncols=True)
        self._call("on_fit_start")
        try:
            while self.step < cfg.steps and not self._stop:
                self._rng = (self.step, capture_rng())  # for a checkpoint taken mid-step
                self.engine.set_phase(self.step)
                terms = self.engine.step(self.engine.batch(next(batches)))
                self.step += 1
                bar.update(1)
                window.add(terms)
                if terms is None:  # a skipped step; its cause may be weights gone bad the step before
                    bad_run, self.skipped_steps = bad_run + 1, self.skipped_steps + 1
                    if bad_run >= cfg.max_bad_steps or not self.engine.weights_finite():
                        path = self.save_checkpoint(barrier=False)  # weights gone bad: it raises instead
                        raise non_finite_losses(self.step, bad_run, cfg.max_bad_steps, path)
                else:
                    bad_run = 0
                    bar.set_postfix({k: f"{v:.4g}" for k, v in terms.items()}, refresh=False)
                self._periodic(window, val_loader, sample_batch, timer)
                self._call("on_step_end", self.step, terms)
                self.estimate = timer.step_done(self.step) or self.estimate  # says how long the rest takes
        except KeyboardInterrupt as e:
            self.interrupted, self._stop = signal_of(e), True
            log.warning("%s at step %d; saving a checkpoint", self.interrupted.name, self.step)
        finally:
            bar.close()
        if window:
            self._record(window.row(self.step, cfg.lr_at(self.step - 1)))
        if self._saved_step != self.step:
            self.save_checkpoint(barrier=self.world > 1 and self.step >= cfg.steps)

    def _periodic(self, window: LossWindow, val_loader: Any, sample_batch: Any, timer: StepTimer) -> None:
        """Log, validate, draw samples and checkpoint when due."""
        cfg, s = self.config, self.step
        last = s >= cfg.steps
        row, improved = None, False
        validate = val_loader is not None and (s % cfg.val_every == 0 or last)
        if s % cfg.log_every == 0 or last or validate:
            row = window.row(s, cfg.lr_at(s - 1))
        if validate:
            try:
                with timer.event("validation"):
                    row.update(self.validate(val_loader) if self.rank == 0 else {})
            except KeyboardInterrupt:
                self._record(row)  # the step's losses were measured: keep its row, without the validation
                raise
            improved = record_best(self.best, row, s)
            if self.world > 1:  # rank 0 decides; all ranks take part in the checkpoint barrier
                flag = torch.tensor([float(improved)], device=self.device if dist.get_backend() == "nccl" else "cpu")
                dist.broadcast(flag, 0)
                improved = bool(flag.item())
        if row is not None:
            self._record(row)
        if sample_batch is not None and self.rank == 0 and (s % cfg.sample_every == 0 or last):
            with timer.event("samples"):
                self._samples(sample_batch)
        if s % cfg.checkpoint_every == 0 or last or improved:
            with timer.event("checkpoint"):
                self.save_checkpoint(best=improved)

    def _start(self, resume: bool | str | Path) -> None:
        """Fresh start (seeded) or restore from a checkpoint in `out` (the newest that passes its checks)."""
        found = self.folder.latest(None if isinstance(resume, bool) else resume) if resume else None
        if found is None:
            if resume:
                log.warning("resume (--resume): no checkpoint in %s; starting a fresh run", self.out)
            self.folder.check_fresh()
            self.step, self.history, self.engine.frozen = 0, [], False
            seed_everything(self.config.seed + self.rank)
        else:
            self._restore(*found)

    def _restore(self, path: Path, ckpt: dict[str, Any]) -> None:
        """Load weights, optimizer, scaler, step, history and RNG streams from checkpoint `path`."""
        self.engine.load_state(ckpt, path)
        self.step, self.skipped_steps = int(ckpt["step"]), int(ckpt.get("skipped_steps", 0))
        self.history = [r for r in ckpt.get("history", []) if r.get("step", 0) <= self.step]
        self.best = ckpt.get("best") or self.best
        self._saved_step = self.step
        for key, (now, was) in self.config.changes_since(ckpt.get("config", {})).items():
            log.warning("resume: %s is %r now but was %r in %s", key, now, was, path.name)
        restore_rng(ckpt["rng"])
        log.info("resumed from %s at step %d", path, self.step)

    # ------------------------------------------------------------------ output
    def _samples(self, batch: Any) -> None:
        import matplotlib.pyplot as plt

        fig = self.engine.samples(batch)
        self.folder.save_figure(fig, f"samples/step_{self.step:07d}.png")
        self._call("on_samples", self.step, fig)
        plt.close(fig)

    def _record(self, row: dict[str, Any]) -> None:
        merge_row(self.history, row)
        if self.rank == 0:
            text = "  ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "step")
            log.info("step %d/%d  %s", row["step"], self.config.steps, text)
            self.folder.write_history(self.history)
            self._call("on_log", row)

    def _call(self, hook: str, *args: Any) -> None:
        if self.rank == 0 or hook == "on_step_end":
            for cb in self.callbacks:
                fn = getattr(cb, hook, None)
                if fn is not None:
                    fn(self, *args)
