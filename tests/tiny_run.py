"""A tiny training setup shared by the trainer's tests: a stand-in model, data and config (CPU, seconds),
and a checkpoint with every field a resume needs, with the ways tests spoil one.

A module of its own (not a conftest fixture) so that DataLoader worker processes,
which rebuild datasets by importing their module, and helper subprocesses can import it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from pconv.train import TrainConfig, Trainer
from pconv.train.rng import capture_rng


class TinyInpaint(nn.Module):
    """An inpainting stand-in: conv-BN-dropout-conv, with `inpaint` and `freeze_encoder_bn`."""

    def __init__(self):
        super().__init__()
        self.config = {}
        self.enc = nn.Conv2d(4, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.drop = nn.Dropout(0.2)  # consumes the torch RNG: resume must restore it
        self.dec = nn.Conv2d(8, 3, 3, padding=1)
        self.frozen = False

    def forward(self, image, mask):
        h = self.drop(torch.relu(self.bn(self.enc(torch.cat([image, mask], 1)))))
        return torch.sigmoid(self.dec(h)), mask

    @torch.no_grad()
    def inpaint(self, image, mask):
        return mask * image + (1 - mask) * self(image * mask, mask)[0]

    def freeze_encoder_bn(self, frozen: bool = True):
        self.frozen = frozen
        self.bn.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.bn.eval()
        return self


class Pairs(Dataset):
    """Fixed images; masks drawn from the global torch RNG (so data RNG must resume exactly too)."""

    def __init__(self, n=12, size=16):
        g = torch.Generator().manual_seed(1)
        self.images = torch.rand(n, 3, size, size, generator=g)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return {"image": self.images[i], "mask": (torch.rand(1, *self.images.shape[2:]) > 0.3).float()}


def l1_terms(output, image, mask):
    hole = ((1 - mask) * (output - image)).abs().mean()
    valid = (mask * (output - image)).abs().mean()
    return {"valid": valid, "hole": hole, "total": valid + 6 * hole}


def cfg(tmp_path, **kw):
    base = dict(
        steps=4,
        batch_size=4,
        lr=1e-2,
        device="cpu",
        num_workers=0,
        log_every=1,
        val_every=100,
        sample_every=100,
        checkpoint_every=100,
        out=str(tmp_path / "run"),
        progress=False,
        val_batches=1,
    )
    return TrainConfig(**{**base, **kw})


def make_trainer(tmp_path, loss=l1_terms, callbacks=(), **kw):
    torch.manual_seed(0)
    return Trainer(TinyInpaint(), loss, cfg(tmp_path, **kw), callbacks=callbacks)


def training_ckpt(step, **change):
    """A checkpoint with every field a resume needs, as the trainer writes them; `change` overrides fields."""
    w = torch.nn.Parameter(torch.full((2,), float(step)))
    opt = torch.optim.Adam([w])
    w.grad = torch.ones(2)
    opt.step()
    ckpt = {
        "step": step,
        "model": {"w": w.detach().clone()},
        "optimizer": opt.state_dict(),
        "scaler": {},
        "config": {"steps": 10, "size": 16, "model": {"name": "X", "kwargs": {}}, "task": "inpainting"},
        "rng": capture_rng(),
        "best": {"metric": "val/psnr", "value": None, "step": None},
        "history": [{"step": step, "lr": 0.1, "loss/total": 1.0}],
        "skipped_steps": 0,
    }
    return {**ckpt, **change}


def nan_model(ckpt):
    ckpt["model"]["w"][0] = float("nan")
    return ckpt


# one field of `training_ckpt` spoiled each: `pconv.train.checkpoint_checks.checkpoint_problem` names every one
BAD_FIELDS = {
    "nan-weights": lambda c: nan_model(c),
    "inf-optimizer-state": lambda c: [c["optimizer"]["state"][0]["exp_avg"].fill_(float("inf")), c][1],
    "step-text": lambda c: {**c, "step": "7"},
    "step-negative": lambda c: {**c, "step": -1},
    "rng-list": lambda c: {**c, "rng": [1, 2, 3]},
    "rng-torch-short": lambda c: {**c, "rng": {**c["rng"], "torch": torch.zeros(4, dtype=torch.uint8)}},
    "history-dict": lambda c: {**c, "history": {"step": 1}},
    "history-row-without-step": lambda c: {**c, "history": [{"lr": 0.1}]},
    "config-list": lambda c: {**c, "config": ["size", 16]},
    "config-size-text": lambda c: {**c, "config": {**c["config"], "size": "big"}},
    "config-model-name-number": lambda c: {**c, "config": {**c["config"], "model": {"name": 3}}},
    "best-list": lambda c: {**c, "best": [1]},
    "optimizer-list": lambda c: {**c, "optimizer": [1]},
    "no-rng": lambda c: {k: v for k, v in c.items() if k != "rng"},
    "skipped-text": lambda c: {**c, "skipped_steps": "2"},
}
