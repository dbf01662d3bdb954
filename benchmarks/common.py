"""What the benchmark scripts share: device flags, device set-up, autocast, GradScaler, sync, JSON lines."""

from __future__ import annotations

import argparse
import json
import platform
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from pconv.utils import resolve_device

AMP_CHOICES = ("auto", "bf16", "fp16")


def parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser with the device flags every benchmark takes."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    p.add_argument(
        "--amp",
        nargs="?",
        const="auto",
        choices=AMP_CHOICES,
        help="autocast; alone or 'auto': bf16 where supported (CPU, CUDA from Ampere on) as the Trainer does, "
        "else fp16; 'bf16' or 'fp16' to choose (fp16 runs with a GradScaler)",
    )
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    p.add_argument("--json", metavar="PATH", help="append the figures to PATH as one JSON line")
    return p


def setup(args: argparse.Namespace) -> torch.device:
    """Resolve `--device` and apply `--threads`; on CUDA let cuDNN pick the fastest kernels per shape.

    `cudnn.benchmark` autotunes on the first call of each shape, which the benchmarks'
    warm-up calls absorb; every variant gets it alike.
    """
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return device


def amp_dtype(args: argparse.Namespace, device: torch.device) -> torch.dtype | None:
    """The autocast dtype `--amp` asks for on `device`, or None without `--amp`."""
    if not args.amp:
        return None
    if args.amp != "auto":
        return {"bf16": torch.bfloat16, "fp16": torch.float16}[args.amp]
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16


def precision(args: argparse.Namespace, device: torch.device) -> str:
    """A label for the arithmetic: "fp32" (TF32 convolutions on CUDA, torch's default), "bf16" or "fp16"."""
    dtype = amp_dtype(args, device)
    if dtype is not None:
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]
    tf32 = device.type == "cuda" and torch.backends.cudnn.allow_tf32
    return "fp32 (TF32 convolutions)" if tf32 else "fp32"


def autocast(args: argparse.Namespace, device: torch.device):
    """Autocast to the `--amp` dtype; a no-op context without `--amp`."""
    dtype = amp_dtype(args, device)
    return nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)


def grad_scaler(args: argparse.Namespace, device: torch.device) -> torch.amp.GradScaler:
    """A GradScaler, enabled for fp16 autocast only (bf16 has fp32's range and needs none)."""
    return torch.amp.GradScaler(device.type, enabled=amp_dtype(args, device) == torch.float16)


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a timer measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize()


def device_name(device: torch.device) -> str:
    """The GPU's name on CUDA, else the CPU's."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_json(args: argparse.Namespace, device: torch.device, record: dict[str, Any]) -> None:
    """Append `record`, with the run's settings and machine, to `--json` as one line (if given)."""
    if not args.json:
        return
    line = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "device": device_name(device),
        "torch": torch.__version__,
        "precision": precision(args, device),
        "args": vars(args),
        **record,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(line) + "\n")
