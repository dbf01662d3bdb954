"""One optimizer step and one validation pass: device, AMP, DDP, torch.compile and the two phases.

`pconv.train.trainer.Trainer` runs the schedule of a run (when to log, validate, save);
an `Engine` does the work of a single step, whatever the task:

* mixed precision: bf16 where the GPU supports it, else fp16 with a GradScaler;
* DistributedDataParallel under `torchrun`, `torch.compile` with a fallback to eager;
* a step whose loss (or gradient norm) is not finite changes nothing and returns None,
  and `weights_finite` tells whether the weights themselves are still finite;
* the paper's two phases (Liu et al. 2018, Sec. 5.1): Adam at `lr`, then fine-tuning
  at `finetune_lr` with the encoder's batch norm frozen.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from pconv.data import to_device
from pconv.nn import upgrade_model_info
from pconv.train.checkpoint import CheckpointError
from pconv.train.checkpoint_model import changes_the_arm, describe_model_mismatch, model_info
from pconv.train.config import TrainConfig
from pconv.train.interrupts import defer_interrupt
from pconv.utils import resolve_device

__all__ = ["Engine"]

log = logging.getLogger("pconv.train.trainer")


class Engine:
    """The model, its optimizer and AMP scaler on one device, and what one step does with them.

    Args:
        model: the network; moved to the device (channels-last when asked).
        loss_fn: called by `task.loss`; moved to the device when it is a Module.
        task: a `pconv.train.tasks` hook (loss, metrics, samples).
        config: the run's `TrainConfig` (device, amp, compile, channels_last, lr, grad_clip, phases).
        world: number of processes (DDP when > 1).
    """

    def __init__(self, model: nn.Module, loss_fn: Any, task: Any, config: TrainConfig, world: int = 1):
        self.config, self.task, self.loss_fn, self.world = config, task, loss_fn, world
        dev = resolve_device(config.device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        self.device = dev
        self.model = model.to(dev, memory_format=torch.channels_last) if config.channels_last else model.to(dev)
        if isinstance(loss_fn, nn.Module):
            loss_fn.to(dev)
        self.amp = config.amp if config.amp is not None else dev.type == "cuda"
        fp16 = dev.type == "cuda" and not torch.cuda.is_bf16_supported()
        self.amp_dtype = torch.float16 if fp16 else torch.bfloat16
        self.scaler = torch.amp.GradScaler("cuda" if dev.type == "cuda" else "cpu", enabled=self.amp and fp16)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)  # the paper's optimizer
        self.net, self.compile_pending, self.frozen = self._wrap(), config.compile, False
        self.model_info = model_info(model)  # {"name", "kwargs"}: lets a checkpoint rebuild the model

    def batch(self, batch: Any) -> dict[str, torch.Tensor]:
        """A batch from a loader on this engine's device (and memory format)."""
        return to_device(batch, self.device, self.config.channels_last)

    def autocast(self) -> Any:
        """The AMP context of this engine (a no-op when AMP is off)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp)

    def step(self, batch: dict[str, torch.Tensor]) -> dict[str, float] | None:
        """One optimizer step; None (and no update) when the loss or gradients are not finite."""
        cfg = self.config
        self.optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            try:
                terms = self.task.loss(self.net, batch, self.loss_fn)
            except Exception as e:
                if not self.compile_pending:
                    raise
                log.warning(
                    "torch.compile failed (%s: %s); continuing without it. Set compile=False "
                    "(--no-compile) to skip compiling.",
                    type(e).__name__,
                    str(e).splitlines()[0][:200],
                )
                self.compile_pending, cfg.compile = False, False
                self.net = self._wrap()
                terms = self.task.loss(self.net, batch, self.loss_fn)
        self.compile_pending = False
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

    def set_phase(self, step: int) -> None:
        """Set step `step`'s lr; entering fine-tuning, freeze the encoder's batch norm (paper Sec. 5.1)."""
        cfg = self.config
        lr = cfg.lr_at(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        if cfg.finetune_steps and step >= cfg.steps - cfg.finetune_steps and not self.frozen:
            self.frozen = True
            if hasattr(self.model, "freeze_encoder_bn"):
                self.model.freeze_encoder_bn(True)
                self.net = self._wrap()  # DDP must see the new set of trainable parameters
            log.info("step %d: fine-tuning at lr %.2e with the encoder's batch norm frozen", step, lr)

    @torch.no_grad()
    def validate(self, loader: Any, max_batches: int) -> dict[str, float]:
        """Mean `task.metrics` over at most `max_batches` batches of `loader`, weighted by batch size.

        Args:
            loader: yields batches of {"image", "mask"} (or (image, mask) pairs), moved here by `batch`.
            max_batches: how many batches to read at most.

        Returns:
            {metric name: mean over the images read}; an empty loader gives {}.
        """
        sums: dict[str, float] = {}
        n = 0
        self.model.eval()
        try:
            with self.autocast():
                for i, batch in enumerate(loader):
                    if i >= max_batches:
                        break
                    batch = self.batch(batch)
                    b = len(batch["image"])
                    for k, v in self.task.metrics(self.model, batch).items():
                        sums[k] = sums.get(k, 0.0) + float(v) * b
                    n += b
        finally:
            self.train_mode()
        return {k: v / max(n, 1) for k, v in sums.items()}

    @torch.no_grad()
    def samples(self, batch: Any) -> Any:
        """The task's sample figure (a matplotlib Figure) of `batch`, drawn in eval mode."""
        self.model.eval()
        try:
            with self.autocast():
                return self.task.samples(self.model, self.batch(batch))
        finally:
            self.train_mode()

    def train_mode(self) -> None:
        """Back to training mode, keeping the encoder's batch norm frozen once fine-tuning began."""
        self.model.train()
        if self.frozen and hasattr(self.model, "freeze_encoder_bn"):
            self.model.freeze_encoder_bn(True)

    def weights_finite(self) -> bool:
        """True when every floating-point weight and buffer (BN statistics too) is finite."""
        tensors = [t for t in self.model.state_dict().values() if t.is_floating_point()]
        return not tensors or bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())

    def state(self) -> dict[str, Any]:
        """{"model", "optimizer", "scaler"} state dicts, for a checkpoint."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load_state(self, ckpt: dict[str, Any], path: Path) -> None:
        """Load the model, optimizer and (when saved) scaler states of checkpoint `path`; not frozen yet.

        Raises:
            CheckpointError: the states do not fit; names the model settings the checkpoint was built with.
        """
        try:  # checkpoints of classes that have changed since they were written
            name, kwargs, state = upgrade_model_info((ckpt.get("config") or {}).get("model") or {}, ckpt["model"])
        except ValueError as e:
            raise CheckpointError(f"cannot resume from checkpoint {path}: {e}") from None
        saved = {"name": name, "kwargs": kwargs}
        mismatch = describe_model_mismatch(saved, self.model_info)
        if mismatch and changes_the_arm(saved, self.model_info):
            raise CheckpointError(f"cannot resume from checkpoint {path}: {mismatch}")
        try:
            self.model.load_state_dict(state)
            self.optimizer.load_state_dict(ckpt["optimizer"])
            if ckpt.get("scaler"):
                self.scaler.load_state_dict(ckpt["scaler"])
        except (RuntimeError, ValueError, KeyError) as e:
            why = mismatch or f"it does not fit this model/optimizer: {' '.join(str(e).split())[:300]}"
            raise CheckpointError(f"cannot resume from checkpoint {path}: {why}") from e
        if mismatch:  # the weights fit, but the model is not built the same way
            log.warning("resume from %s: %s", path.name, mismatch)
        self.frozen = False  # set_phase freezes again at the first step when resuming inside fine-tuning

    def _wrap(self) -> Any:
        net = self.model
        if self.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
        return torch.compile(net) if self.config.compile else net
