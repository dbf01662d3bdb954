"""Speed of the classical fills (pconv.evaluation.available_baselines): PatchMatch against the harmonic fill.

    python benchmarks/bench_fills.py [--sizes 256,512] [--hole 0.25] [--methods all] [--repeats 3] [--threads 0]

One sample photo (scikit-image's astronaut, 512x512, resized for other sizes) with one free-form
mask of about `--hole` of the image missing (`irregular_mask`, seeded), filled by each method:
the median of `--repeats` timed calls after one untimed warm-up, wall and CPU time of this
process (on a shared machine wall time also counts other processes), and each method's ratio to
`harmonic`, measured in the same run. The PSNR of the composite is printed too, for orientation
only: one image and one mask say little about quality (notebook 04 and 07 score the fills per
hole bin). PatchMatch (PyPatchMatch, Barnes et al. 2009) runs on one core whatever `--threads`
says; harmonic is torch and uses its threads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from common import device_name
from PIL import Image

from pconv.data import hole_ratio, irregular_mask, sample_photo
from pconv.evaluation import available_baselines, psnr

REFERENCE = "harmonic"  # every ratio is to this fill's time in the same run


def test_pair(size: int, hole: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(image (3, S, S) in [0, 1], mask (1, S, S), 1 = valid): the astronaut and a free-form mask."""
    photo = Image.fromarray(sample_photo("astronaut")).resize((size, size), Image.Resampling.BICUBIC)
    image = torch.from_numpy(np.asarray(photo, np.float32) / 255).permute(2, 0, 1)
    mask = torch.from_numpy(irregular_mask(size, size, (hole - 0.02, hole + 0.02), rng=seed))[None]
    return image, mask


def timed(fn, image: torch.Tensor, mask: torch.Tensor, repeats: int) -> tuple[float, float, torch.Tensor]:
    """(median wall s, median CPU s, composite) of `repeats` calls after one warm-up."""
    out = fn(image, mask)  # warm-up: imports, first-call allocations
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn(image, mask)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="256,512", help="comma-separated image sides in pixels")
    p.add_argument("--hole", type=float, default=0.25, help="hole ratio of the mask (within +-0.02)")
    p.add_argument("--methods", default="all", help=f"comma-separated fills, or 'all' available; {REFERENCE} is added")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per method and size (the median is shown)")
    p.add_argument("--seed", type=int, default=0, help="seed of the mask")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    p.add_argument("--smoke", action="store_true", help="tiny run (for tests): 32x32, one repeat")
    p.add_argument("--json", metavar="PATH", help="append the figures to PATH as one JSON line")
    args = p.parse_args(argv)
    smoke = args.smoke or os.environ.get("PCONV_SMOKE") == "1"
    sizes = [32] if smoke else [int(s) for s in args.sizes.split(",")]
    repeats = 1 if smoke else args.repeats
    if not 0.05 <= args.hole <= 0.6:
        p.error(f"--hole {args.hole}: give a hole ratio between 0.05 and 0.6")
    available = available_baselines()
    names = list(available) if args.methods == "all" else [m.strip() for m in args.methods.split(",")]
    unknown = [m for m in names if m not in available]
    if unknown:
        p.error(f"--methods: {', '.join(unknown)} not available here; choose from {', '.join(available)}")
    names = [REFERENCE, *(m for m in names if m != REFERENCE)]
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        f"# bench_fills  {time.strftime('%Y-%m-%d')}  {device_name(torch.device('cpu'))}  {os.cpu_count()} cores  "
        f"python {platform.python_version()}  torch {torch.__version__} ({torch.get_num_threads()} threads)  "
        f"repeats {repeats}"
    )
    rows = []
    for size in sizes:
        image, mask = test_pair(size, args.hole, args.seed)
        print(f"\n{size}x{size}, {hole_ratio(mask):.1%} hole")
        print(f"{'method':<14}{'wall s':>9}{'cpu s':>9}{'x ' + REFERENCE + ' wall':>17}{'x cpu':>8}{'PSNR dB':>9}")
        reference = None
        for name in names:
            wall, cpu, out = timed(available[name], image, mask, repeats)
            reference = reference or (wall, cpu)
            row = {"size": size, "method": name, "wall_s": wall, "cpu_s": cpu, "hole": hole_ratio(mask)}
            row |= {"x_wall": wall / reference[0], "x_cpu": cpu / max(reference[1], 1e-9)}
            row["psnr"] = psnr(out[None], image[None]).item()
            rows.append(row)
            print(f"{name:<14}{wall:9.3f}{cpu:9.3f}{row['x_wall']:17.1f}{row['x_cpu']:8.1f}{row['psnr']:9.2f}")
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"date": time.strftime("%Y-%m-%d %H:%M"), "cpu": device_name(torch.device("cpu")), "sizes": sizes}
        record |= {"torch": torch.__version__, "threads": torch.get_num_threads(), "args": vars(args), "rows": rows}
        with path.open("a") as f:
            f.write(json.dumps(record) + "\n")
    pm = {r["size"]: r for r in rows if r["method"] == "patchmatch"}
    if pm:
        parts = [f"{s}px {r['wall_s']:.2f} s = x{r['x_wall']:.1f}" for s, r in pm.items()]
        print(f"\nsummary: patchmatch wall time and its ratio to {REFERENCE}: " + ", ".join(parts))
    else:
        print("\nsummary: patchmatch not measured (not in --methods, or PyPatchMatch is not installed)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
