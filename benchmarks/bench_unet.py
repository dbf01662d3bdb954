"""Training throughput of the segmentation UNet (Ronneberger et al. 2015,
arXiv:1505.04597) at Carvana's working sizes: 160x240 (quarter) and 640x960.

Each step: forward, BCE-with-logits + soft Dice loss, backward, Adam. Reports the
median images/s over the timed steps (one by default on CPU, where a
640x960 step of the 31M-parameter network takes about a minute) (wall clock, and per process CPU second,
which is steadier on a shared machine).

    python benchmarks/bench_unet.py                            # CPU, small batches
    python benchmarks/bench_unet.py --device cuda --amp --batch-size 16 --channels-last
    python benchmarks/bench_unet.py ... --json figures.jsonl   # also append the figures as one JSON line

On CUDA the peak memory of the timed steps is reported too. The last line printed,
"summary: ...", holds the key figures (benchmarks/gpu_check.sh shows it).
"""

from __future__ import annotations

import argparse
import statistics
import time

import common
import torch

from pconv.nn import UNet, bce_dice_loss


def parse_args() -> argparse.Namespace:
    p = common.parser(__doc__)
    p.add_argument("--sizes", default="160x240,640x960", help="comma-separated HxW list")
    p.add_argument(
        "--batch-size",
        type=int,
        default=0,
        help="0: 2 at the small size, 1 at the large on CPU; 8/2 on GPU",
    )
    p.add_argument("--steps", type=int, default=1, help="timed steps per size")
    p.add_argument(
        "--warmup",
        type=int,
        default=-1,
        help="untimed steps per size first (-1: 0 on CPU, where one 640x960 step takes a minute "
        "and setup is negligible; 2 on GPU, for cuDNN autotuning)",
    )
    p.add_argument("--bilinear", action="store_true")
    p.add_argument(
        "--features",
        default="64,128,256,512",
        help="channels per level, comma-separated (the default is the paper's 31M-parameter network)",
    )
    args = p.parse_args()
    try:
        args.features = tuple(int(c) for c in args.features.split(","))
    except ValueError:
        p.error(f"--features {args.features!r}: expected comma-separated channel counts, e.g. 8,16")
    return args


def main() -> None:
    args = parse_args()
    device = common.setup(args)
    torch.manual_seed(0)
    mf = torch.channels_last if args.channels_last else torch.contiguous_format
    net = UNet(features=args.features, bilinear=args.bilinear).to(device, memory_format=mf).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    scaler = common.grad_scaler(args, device)
    n = sum(p.numel() for p in net.parameters())
    print(
        f"torch {torch.__version__}, device {device} ({common.device_name(device)}), "
        f"threads {torch.get_num_threads()}, {common.precision(args, device)}, channels_last {args.channels_last}; "
        f"UNet {n / 1e6:.2f}M params, features {args.features}, bilinear {args.bilinear}"
    )
    rows = []
    for i, size in enumerate(args.sizes.split(",")):
        h, w = (int(v) for v in size.lower().split("x"))
        batch = args.batch_size or ((2, 1) if device.type == "cpu" else (8, 2))[min(i, 1)]
        image = torch.rand(batch, 3, h, w, device=device).to(memory_format=mf)
        target = (torch.rand(batch, 1, h, w, device=device) > 0.5).float()

        def step(image=image, target=target):
            opt.zero_grad(set_to_none=True)
            with common.autocast(args, device):
                loss = bce_dice_loss(net(image), target)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            common.sync(device)

        for _ in range(args.warmup if args.warmup >= 0 else (0 if device.type == "cpu" else 2)):
            step()
        walls, cpus = [], []
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        for _ in range(args.steps):
            w0, c0 = time.perf_counter(), time.process_time()
            step()
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        peak = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
        print(
            f"{h}x{w} batch {batch}: {wall * 1e3:9.1f} ms/step wall, {batch / wall:7.2f} images/s "
            f"({batch / cpu:7.2f} images per CPU-second)" + (f", peak {peak:.0f} MiB" if peak is not None else "")
        )
        rows.append({"size": f"{h}x{w}", "batch": batch, "ms": wall * 1e3, "img_s": batch / wall, "peak_mib": peak})
    common.write_json(args, device, {"bench": "bench_unet", "sizes": rows})
    label = common.precision(args, device).split()[0] + (" channels_last" if args.channels_last else "")
    print(
        f"summary: UNet training {label}: "
        + ", ".join(
            f"{r['size']} b{r['batch']} {r['img_s']:.1f} img/s"
            + (f" ({r['peak_mib'] / 1024:.1f} GiB)" if r["peak_mib"] is not None else "")
            for r in rows
        )
    )


if __name__ == "__main__":
    main()
