"""One plain trainer for inpainting and segmentation: AMP, DDP, checkpoints, resume, fault guards.

Follows the paper's schedule for partial-convolution inpainting (Liu et al. 2018,
Sec. 5.1): Adam at lr 2e-4, then fine-tuning at lr 5e-5 with the encoder's batch
norm frozen for the last `finetune_steps` of the `steps` in total. What one step
means (loss, metrics, sample figure) comes from a task hook in `pconv.tasks`.

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
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from ._loop import (
    defer_interrupt,
    endless_batches,
    first_batch,
    loader_seed,
    make_loader,
    seed_everything,
    to_device,
    write_history,
)
from .checkpoint import (
    CheckpointError,
    capture_rng,
    list_checkpoints,
    load_checkpoint,
    load_latest,
    model_info,
    prune_checkpoints,
    restore_rng,
    save_checkpoint,
)
from .config import TrainConfig
from .tasks import infer_task
from .utils import output_dir, resolve_device

__all__ = ["TrainConfig", "Trainer", "load_checkpoint", "TrainingDivergedError", "RunExistsError"]

log = logging.getLogger("pconv.train")


class TrainingDivergedError(RuntimeError):
    """Too many non-finite losses in a row; the last good state was checkpointed."""


class RunExistsError(FileExistsError):
    """`out` already holds a run's checkpoints and `resume` was not asked for."""


class Trainer:
    """Train `model` with `loss_fn` per `config`; `task` (default: inferred) says what a step is.

    Args:
        model: e.g. `PConvUNet` (inpainting, has `.inpaint`) or `UNet` (segmentation).
        loss_fn: `InpaintingLoss(...)` / `bce_dice_loss`: returns a scalar or a dict with "total".
        config: a `TrainConfig` (default values if None).
        task: `InpaintingTask()`, `SegmentationTask()` or a custom hook; None infers it.
        callbacks: objects with some `pconv.callbacks.Callback` methods, e.g. `LivePlot()`.
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
        self.task, self.callbacks, self.loss_fn = task or infer_task(model), list(callbacks), loss_fn
        self._model_info = model_info(model)  # {"name", "kwargs"}: lets a checkpoint rebuild the model
        distributed = dist.is_available() and dist.is_initialized()
        self.rank, self.world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
        dev = resolve_device(cfg.device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        self.device = dev
        self.model = model.to(dev, memory_format=torch.channels_last) if cfg.channels_last else model.to(dev)
        if isinstance(loss_fn, nn.Module):
            loss_fn.to(dev)
        self.amp = cfg.amp if cfg.amp is not None else dev.type == "cuda"
        fp16 = dev.type == "cuda" and not torch.cuda.is_bf16_supported()
        self.amp_dtype = torch.float16 if fp16 else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda" if dev.type == "cuda" else "cpu", enabled=self.amp and fp16)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)  # the paper's optimizer
        self.net, self._compile_pending = self._wrap(), cfg.compile
        self.step, self.history, self.skipped_steps = 0, [], 0
        self.best: dict[str, Any] = {"metric": f"val/{self.task.best_metric}", "value": None, "step": None}
        self._stop, self._frozen, self._saved_step, self._rng = False, False, -1, (-1, None)

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
                from the newest readable `ckpt_<step>.pt` in `out`; a path: from that checkpoint.

        Raises:
            RunExistsError: `out` holds checkpoints and `resume` is False.
            TrainingDivergedError: `max_bad_steps` non-finite losses in a row (checkpoint saved).
        """
        cfg, self._stop = self.config, False
        sample_batch = None  # read before any seeding, so that resuming sees the same RNG streams
        if self.rank == 0:
            sample_batch = first_batch(val_data if val_data is not None else train_data)
        self._start(resume)
        cuda = self.device.type == "cuda"
        batches = endless_batches(
            train_data, cfg.batch_size, cfg.seed, self.step, self.rank, self.world, cfg.num_workers, cuda
        )
        val_loader = (
            val_data
            if val_data is None or isinstance(val_data, DataLoader)
            else make_loader(
                val_data, cfg.batch_size, cfg.num_workers, cuda, loader_seed(cfg.seed, -1, 0), drop_last=False
            )
        )
        window: dict[str, list[float]] = {}
        skipped = bad_run = 0
        from tqdm.auto import tqdm

        bar = tqdm(
            total=cfg.steps,
            initial=self.step,
            disable=not (cfg.progress and self.rank == 0),
            desc=self.task.name,
            dynamic_ncols=True,
        )
        self._call("on_fit_start")
        try:
            while self.step < cfg.steps and not self._stop:
                self._rng = (self.step, capture_rng())  # for a checkpoint taken mid-step
                self._apply_phase()
                terms = self._train_step(to_device(next(batches), self.device, cfg.channels_last))
                self.step += 1
                bar.update(1)
                if terms is None:
                    skipped, bad_run, self.skipped_steps = skipped + 1, bad_run + 1, self.skipped_steps + 1
                    if bad_run >= cfg.max_bad_steps:
                        self._diverged(bad_run)
                else:
                    bad_run = 0
                    for k, v in terms.items():
                        window.setdefault(k, []).append(v)
                    bar.set_postfix({k: f"{v:.4g}" for k, v in terms.items()}, refresh=False)
                if self._periodic(window, skipped, val_loader, sample_batch):
                    window, skipped = {}, 0
                self._call("on_step_end", self.step, terms)
        except KeyboardInterrupt:
            log.warning("interrupted at step %d; saving a checkpoint", self.step)
            self._stop = True
        finally:
            bar.close()
        if window or skipped:
            self._record(self._row(window, skipped))
        if self._saved_step != self.step:
            self.save_checkpoint(barrier=self.world > 1 and self.step >= cfg.steps)
        self._call("on_fit_end", self.history)
        return self.history

    def save_checkpoint(self, best: bool = False, barrier: bool = True) -> Path:
        """Write out/ckpt_<step>.pt (and best.pt) atomically on rank 0, then prune to `keep_last`."""
        path = self.out / f"ckpt_{self.step}.pt"
        if barrier and self.world > 1:
            dist.barrier()
        if self.rank == 0:
            snap_step, snap = self._rng
            ckpt = {
                "step": self.step,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scaler": self.scaler.state_dict(),
                "best": dict(self.best),
                "history": list(self.history),
                "config": {**self.config.to_dict(), "model": self._model_info, "task": self.task.name},
                "rng": snap if snap_step == self.step else capture_rng(),
                "skipped_steps": self.skipped_steps,
            }
            with defer_interrupt():
                save_checkpoint(ckpt, path)
                if best:
                    save_checkpoint(ckpt, self.out / "best.pt")
                prune_checkpoints(self.out, self.config.keep_last)
                write_history(self.history, self.out)
            log.info("saved %s", path)
            self._call("on_checkpoint", path)
        if barrier and self.world > 1:
            dist.barrier()
        self._saved_step = self.step
        return path

    @torch.no_grad()
    def validate(self, val_loader: Any) -> dict[str, float]:
        """Mean `task.metrics` over at most `val_batches` batches, as {"val/<name>": value}."""
        sums: dict[str, float] = {}
        n = 0
        self.model.eval()
        try:
            with self._autocast():
                for i, batch in enumerate(val_loader):
                    if i >= self.config.val_batches:
                        break
                    batch = to_device(batch, self.device, self.config.channels_last)
                    b = len(batch["image"])
                    for k, v in self.task.metrics(self.model, batch).items():
                        sums[k] = sums.get(k, 0.0) + float(v) * b
                    n += b
        finally:
            self._train_mode()
        return {f"val/{k}": v / max(n, 1) for k, v in sums.items()}

    # ------------------------------------------------------------------ steps
    def _train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float] | None:
        """One optimizer step; None (and no update) when the loss or gradients are not finite."""
        cfg = self.config
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            try:
                terms = self.task.loss(self.net, batch, self.loss_fn)
            except Exception as e:
                if not self._compile_pending:
                    raise
                log.warning(
                    "torch.compile failed (%s: %s); continuing without it. Set compile=False "
                    "(--no-compile) to skip compiling.",
                    type(e).__name__,
                    str(e).splitlines()[0][:200],
                )
                self._compile_pending, self.config.compile = False, False
                self.net = self._wrap()
                terms = self.task.loss(self.net, batch, self.loss_fn)
        self._compile_pending = False
        total = terms["total"]
        finite = torch.isfinite(total.detach()).float()
        if self.world > 1:  # every rank must skip together, or DDP's all-reduce would hang
            dist.all_reduce(finite, op=dist.ReduceOp.MIN)
        if not bool(finite):
            return None
        self.scaler.scale(total).backward()
        if cfg.grad_clip:
            self.scaler.unscale_(self.optimizer)
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            if not self.scaler.is_enabled() and not torch.isfinite(norm):
                return None
        with defer_interrupt():  # never leave the weights half-updated
            self.scaler.step(self.optimizer)
            self.scaler.update()
        return {k: float(v.detach()) for k, v in terms.items()}

    def _periodic(self, window: dict, skipped: int, val_loader: Any, sample_batch: Any) -> bool:
        """Log, validate, draw samples and checkpoint when due; True when a row was recorded."""
        cfg, s = self.config, self.step
        last = s >= cfg.steps
        row, improved = None, False
        validate = val_loader is not None and (s % cfg.val_every == 0 or last)
        if s % cfg.log_every == 0 or last or validate:
            row = self._row(window, skipped)
        if validate:
            row.update(self.validate(val_loader) if self.rank == 0 else {})
            value = row.get(self.best["metric"])
            improved = value is not None and (self.best["value"] is None or value > self.best["value"])
            if improved:
                self.best.update(value=value, step=s)
            if self.world > 1:  # rank 0 decides; all ranks take part in the checkpoint barrier
                flag = torch.tensor([float(improved)], device=self.device if dist.get_backend() == "nccl" else "cpu")
                dist.broadcast(flag, 0)
                improved = bool(flag.item())
        if row is not None:
            self._record(row)
        if sample_batch is not None and self.rank == 0 and (s % cfg.sample_every == 0 or last):
            self._samples(sample_batch)
        if s % cfg.checkpoint_every == 0 or last or improved:
            self.save_checkpoint(best=improved)
        return row is not None

    def _diverged(self, n: int) -> None:
        path = self.save_checkpoint(barrier=False)
        raise TrainingDivergedError(
            f"training stopped at step {self.step}: {n} non-finite losses in a row (max_bad_steps="
            f"{self.config.max_bad_steps}). The last good weights are in {path}; lower the lr, set "
            "grad_clip or turn AMP off, then resume from it."
        )

    # ------------------------------------------------------------------ helpers
    def _start(self, resume: bool | str | Path) -> None:
        """Fresh start (seeded) or restore from a checkpoint in `out` (newest readable first)."""
        cfg, found = self.config, list_checkpoints(self.out)
        if not resume:
            if found or (self.out / "best.pt").exists():
                newest = found[-1][1].name if found else "best.pt"
                raise RunExistsError(
                    f"{self.out} already holds checkpoints of a run (newest: {newest}); "
                    "pass resume=True (--resume) to continue it, or choose a new out folder (--out)"
                )
            self.step, self.history, self._frozen = 0, [], False
            seed_everything(cfg.seed + self.rank)
            return
        found = load_latest(self.out, None if isinstance(resume, bool) else resume)
        if found is None:
            log.warning("resume: no checkpoint in %s; starting a fresh run", self.out)
            return self._start(False)
        path, ckpt = found
        try:
            self.model.load_state_dict(ckpt["model"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
        except (RuntimeError, ValueError, KeyError) as e:
            raise CheckpointError(f"checkpoint {path} does not fit this model/optimizer: {e}") from e
        if ckpt.get("scaler"):
            self.scaler.load_state_dict(ckpt["scaler"])
        self.step, self.skipped_steps = int(ckpt["step"]), int(ckpt.get("skipped_steps", 0))
        self.history = [r for r in ckpt.get("history", []) if r.get("step", 0) <= self.step]
        self.best = ckpt.get("best") or self.best
        self._saved_step, self._frozen = self.step, False
        old = ckpt.get("config", {})
        for key in ("batch_size", "lr", "seed", "size", "finetune_steps", "finetune_lr", "schedule"):
            if key in old and old[key] != getattr(cfg, key):
                log.warning("resume: %s is %r now but was %r in %s", key, getattr(cfg, key), old[key], path.name)
        restore_rng(ckpt["rng"])
        log.info("resumed from %s at step %d", path, self.step)

    def _apply_phase(self) -> None:
        """Set this step's lr; entering fine-tuning, freeze the encoder's batch norm (paper Sec. 5.1)."""
        cfg = self.config
        lr = cfg.lr_at(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if cfg.finetune_steps and self.step >= cfg.steps - cfg.finetune_steps and not self._frozen:
            self._frozen = True
            if hasattr(self.model, "freeze_encoder_bn"):
                self.model.freeze_encoder_bn(True)
                self.net = self._wrap()  # DDP must see the new set of trainable parameters
            log.info("step %d: fine-tuning at lr %.2e with the encoder's batch norm frozen", self.step, lr)

    def _train_mode(self) -> None:
        self.model.train()
        if self._frozen and hasattr(self.model, "freeze_encoder_bn"):
            self.model.freeze_encoder_bn(True)

    def _wrap(self) -> Any:
        net = self.model
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
        return torch.compile(net) if self.config.compile else net

    def _autocast(self) -> Any:
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp)

    def _samples(self, batch: Any) -> None:
        import matplotlib.pyplot as plt

        self.model.eval()
        try:
            with torch.no_grad(), self._autocast():
                fig = self.task.samples(self.model, to_device(batch, self.device, self.config.channels_last))
        finally:
            self._train_mode()
        path = self.out / "samples" / f"step_{self.step:07d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=80, bbox_inches="tight")
        self._call("on_samples", self.step, fig)
        plt.close(fig)

    def _row(self, window: dict[str, list[float]], skipped: int) -> dict[str, Any]:
        row: dict[str, Any] = {"step": self.step, "lr": self.config.lr_at(self.step - 1)}
        row.update({f"loss/{k}": sum(v) / len(v) for k, v in window.items()})
        row["skipped"] = skipped
        return row

    def _record(self, row: dict[str, Any]) -> None:
        if self.history and self.history[-1]["step"] == row["step"]:
            self.history[-1].update(row)
        else:
            self.history.append(row)
        if self.rank == 0:
            log.info(
                "step %d/%d  %s",
                row["step"],
                self.config.steps,
                "  ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "step"),
            )
            write_history(self.history, self.out)
            self._call("on_log", row)

    def _call(self, hook: str, *args: Any) -> None:
        if self.rank == 0 or hook == "on_step_end":
            for cb in self.callbacks:
                fn = getattr(cb, hook, None)
                if fn is not None:
                    fn(self, *args)
