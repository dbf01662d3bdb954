"""Throughput of the free-form mask generator (pconv.data.masks) on one CPU core.

    python benchmarks/bench_masks.py [--size 256] [--n 1000] [--smoke]

Prints masks/s for the default settings (the target is >= 1000 masks/s at 256x256),
then per stroke family and per paper hole bin, and for `MaskGenerator` items
(tensor conversion included). CPU time is reported next to wall time, because
on a shared machine wall time also counts other processes.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from pconv.data import PAPER_HOLE_BINS, MaskGenerator, hole_ratio, irregular_mask


def rate(fn, n: int) -> tuple[float, float]:
    """(masks/s by wall clock, masks/s by this process's CPU time) for n calls of fn(i)."""
    fn(0)  # warm-up: imports and first-call allocations
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - wall), n / (time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--n", type=int, default=1000, help="masks per measurement")
    parser.add_argument("--smoke", action="store_true", help="tiny run (for tests)")
    args = parser.parse_args()
    n, s = (20, args.size) if args.smoke or os.environ.get("PCONV_SMOKE") == "1" else (args.n, args.size)
    torch.set_num_threads(1)  # one core: the generator itself is single-threaded numpy/Pillow
    print(
        f"# bench_masks  {time.strftime('%Y-%m-%d')}  {platform.processor() or platform.machine()}  "
        f"python {platform.python_version()}  torch {torch.__version__}  size {s}x{s}  n={n}"
    )

    wall, cpu = rate(lambda i: irregular_mask(s, s, rng=i), n)
    print(f"default irregular_mask (freeform, 0.01-0.6): {wall:7.0f} masks/s wall  {cpu:7.0f} masks/s cpu")

    print(f"\n{'family':<10}{'hole range':>12}{'wall/s':>10}{'cpu/s':>10}")
    for family, boxes in (("freeform", False), ("thin", False), ("medium", True), ("thick", True), ("mixed", True)):
        for rng_range in ((0.01, 0.6), *PAPER_HOLE_BINS):
            wall, cpu = rate(
                lambda i, r=rng_range, f=family, b=boxes: irregular_mask(s, s, r, i, family=f, boxes=b), max(n // 5, 5)
            )
            print(f"{family:<10}{f'{rng_range[0]:.2f}-{rng_range[1]:.2f}':>12}{wall:10.0f}{cpu:10.0f}")

    ds = MaskGenerator(s, length=n)
    wall, cpu = rate(lambda i: ds[i], n)
    print(f"\nMaskGenerator[i] -> (1, {s}, {s}) tensor: {wall:7.0f} masks/s wall  {cpu:7.0f} masks/s cpu")
    r = np.array([hole_ratio(ds[i]) for i in range(min(n, 200))])
    print(f"hole ratios of the first {len(r)}: min {r.min():.3f} mean {r.mean():.3f} max {r.max():.3f}")


if __name__ == "__main__":
    main()
