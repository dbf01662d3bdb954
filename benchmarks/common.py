"""What the benchmark scripts share: device flags, device set-up, autocast and sync."""

from __future__ import annotations

import argparse
from contextlib import nullcontext

import torch

from pconv.utils import resolve_device


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser with the device flags every benchmark takes."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    p.add_argument("--amp", action="store_true", help="autocast: bf16 on CPU, fp16 (+GradScaler) on CUDA")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    return p


def setup(args: argparse.Namespace) -> torch.device:
    """Resolve `--device` and apply `--threads`."""
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    return device


def autocast(args: argparse.Namespace, device: torch.device):
    """fp16 autocast on CUDA, bf16 elsewhere, when `--amp`; else a no-op context."""
    if not args.amp:
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.float16 if device.type == "cuda" else torch.bfloat16)


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a timer measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize()
