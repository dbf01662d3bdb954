"""Benchmark PartialConv2d and PConvUNet (Liu et al. 2018, arXiv:1804.07723) against
plain convolutions (the limit) and a naive NVIDIA-style multi-channel reference.

(a) each of the network's layer shapes: PartialConv2d fwd+bwd vs nn.Conv2d, and the
    cost of the layer's binary-mask check (the layer with and without `check_mask`);
(b) a training step (fwd + L1 loss + bwd + Adam) of PConvUNet vs its plain twin vs
    the naive twin, peak memory of each step, and (CPU) a profiler split of the step;
    also PConvUNet without its entry checks ("unet": the cost of checking the input);
(c) inference (forward only) of the three;
(d) the convolution variants of the one U-Net wiring, `PConvUNet(conv="partial" | "plain" |
    "gated")` (the paper's Fig. 2 e/f baseline; gated convolution, Yu et al. 2019,
    arXiv:1806.03589), training step, inference and peak memory against the plain twin (the
    limit: the same layers as bare `nn.Conv2d`, no mask path, no entry checks);
(e) the segmentation U-Net's partial-convolution padding (Liu et al. 2018, arXiv:1811.11718):
    `UNet(padding="partial")` against `UNet(padding="zeros")`, training step and inference.
Variants alternate within every repeat and medians are reported, so slow drifts of
a shared machine hit all of them alike.

    python benchmarks/bench_pconv.py                      # CPU, 256x256, batch 2
    python benchmarks/bench_pconv.py --device cuda --amp bf16 --size 512 --layers 8 --batch-size 8
    python benchmarks/bench_pconv.py ... --json figures.jsonl   # also append the figures as one JSON line
    python benchmarks/bench_pconv.py --skip-layers --batch-size 1 --unet-features 16,32,64,128   # a small CPU run

The last line printed, "summary: ...", holds the key figures (benchmarks/gpu_check.sh shows it).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import common
import torch
import torch.nn.functional as F
from naive_pconv import Twin, Unchecked
from torch import nn

from pconv.nn import PartialConv2d, PConvUNet, UNet


def parse_args() -> argparse.Namespace:
    p = common.parser(__doc__)
    p.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile every variant (slow to start)",
    )
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="timed repeats per variant (after one warm-up)",
    )
    p.add_argument("--layers", type=int, default=7)
    p.add_argument("--base-channels", type=int, default=64)
    p.add_argument("--hole", type=float, default=0.3, help="hole ratio of the random block mask")
    p.add_argument(
        "--skip-layers",
        action="store_true",
        help="leave out the per-layer table (a)",
    )
    p.add_argument(
        "--skip-variants",
        action="store_true",
        help="leave out the convolution variants (d) and the U-Net's padding (e)",
    )
    p.add_argument(
        "--unet-features",
        type=features_arg,
        default=(64, 128, 256, 512),
        help="level widths of the U-Net in (e), comma-separated (default: the classic 64,128,256,512)",
    )
    args = p.parse_args()
    bottom = args.size >> len(args.unet_features)
    if not args.skip_variants and args.batch_size * bottom * bottom < 2:
        # BatchNorm in training needs more than one value per channel at the U-Net's bottleneck
        p.error(
            f"--size {args.size} with --batch-size {args.batch_size} leaves the U-Net of (e) "
            f"(--unet-features {','.join(map(str, args.unet_features))}) a {bottom}x{bottom} bottleneck, "
            "too small for BatchNorm in training: use fewer --unet-features levels, a larger --size "
            "or --batch-size, or --skip-variants"
        )
    return args


def features_arg(text: str) -> tuple[int, ...]:
    """`--unet-features 16,32,64`: positive ints, comma-separated."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive ints separated by commas, e.g. 16,32,64,128; got {text!r}")
    return values


def interleaved(
    fns: dict[str, Callable[[], None]], repeats: int, device: torch.device
) -> dict[str, tuple[float, float]]:
    """Median (wall, process CPU) seconds per call of each function, alternating them.

    On a shared CPU the wall time mostly measures the neighbours; the process CPU
    time (all threads) is much steadier, so ratios are given for both.
    """
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up (oneDNN primitive creation, compilation)
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            common.sync(device)
            w0, c0 = time.perf_counter(), time.process_time()
            fn()
            common.sync(device)
            times[name].append((time.perf_counter() - w0, time.process_time() - c0))
    return {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in times.items()}


def peak_bytes(fn: Callable[[], None], device: torch.device) -> int:
    """Peak bytes allocated above the starting level while `fn` runs.

    CUDA: `torch.cuda.max_memory_allocated`. CPU: the running sum of the profiler's
    per-op allocation records (allocations freed inside one op are netted, so this
    is a slight under-estimate, alike for every variant).
    """
    if device.type == "cuda":
        torch.cuda.synchronize()
        start = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        fn()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - start
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    cur = peak = 0
    for ev in sorted(prof.events(), key=lambda e: e.time_range.start):
        cur += ev.self_cpu_memory_usage
        peak = max(peak, cur)
    return peak


def train_step(
    net: nn.Module,
    inputs: tuple,
    loss_of: Callable[[torch.Tensor], torch.Tensor],
    args: argparse.Namespace,
    device: torch.device,
) -> Callable[[], None]:
    """One training step of `net` as a closure: forward on `inputs`, `loss_of(output)`, backward, Adam.

    A network returning (output, mask) is scored on its output. `net` is moved to `device` (channels-last
    with `--channels-last`), put in train mode and compiled with `--compile`.
    """
    mf = torch.channels_last if args.channels_last else torch.contiguous_format
    net.to(device, memory_format=mf).train()
    fwd = torch.compile(net) if args.compile else net
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    scaler = common.grad_scaler(args, device)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with common.autocast(args, device):
            out = fwd(*inputs)
            out = out[0] if isinstance(out, tuple) else out
            loss = loss_of(out.float())
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    return step


def inference(net: nn.Module, inputs: tuple, args: argparse.Namespace, device: torch.device) -> Callable[[], None]:
    """A forward pass of `net` on `inputs` in eval mode without gradients, as a closure."""
    net.eval()

    def run() -> None:
        with torch.no_grad(), common.autocast(args, device):
            net(*inputs)

    return run


def block_mask(n: int, size: int, hole: float, device: torch.device) -> torch.Tensor:
    """A centred square hole covering about `hole` of the image, plus scattered pixels."""
    gen = torch.Generator().manual_seed(0)
    mask = (torch.rand(n, 1, size, size, generator=gen) > 0.05).float()
    side = int(size * hole**0.5)
    lo = (size - side) // 2
    mask[..., lo : lo + side, lo : lo + side] = 0
    return mask.to(device)


def bench_layers(args: argparse.Namespace, device: torch.device, model: PConvUNet) -> list[dict]:
    print(f"\n(a) layer fwd+bwd, batch {args.batch_size}: PartialConv2d (1-channel mask) vs nn.Conv2d")
    print("    check: PartialConv2d / the same call with check_mask=False (the binary-mask check's cost)")
    print(f"{'layer':<6}{'shape':<28}{'plain ms':>10}{'pconv ms':>10}{'ratio':>8}{'cpu ratio':>10}{'check':>8}")
    size = args.size
    blocks = [(f"enc{i + 1}", b, size >> i) for i, b in enumerate(model.encoder)]
    blocks += [(f"dec{i + 1}", u.block, size >> (args.layers - 1 - i)) for i, u in enumerate(model.decoder)]
    mf = torch.channels_last if args.channels_last else torch.contiguous_format
    rows = []
    for name, b, s in blocks:
        c = b.conv
        pconv = PartialConv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding).to(
            device, memory_format=mf
        )
        plain = nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding).to(
            device, memory_format=mf
        )
        x = torch.randn(args.batch_size, c.in_channels, s, s, device=device).to(memory_format=mf).requires_grad_()
        mask = block_mask(args.batch_size, s, args.hole, device)

        def run_plain(plain=plain, x=x):
            with common.autocast(args, device):
                out = plain(x)
            out.float().mean().backward()

        def run_pconv(pconv=pconv, x=x, mask=mask, check_mask=True):
            with common.autocast(args, device):
                out, _ = pconv(x, mask, check_mask=check_mask)
            out.float().mean().backward()

        fns = {"plain": run_plain, "pconv": run_pconv, "unchecked": lambda fn=run_pconv: fn(check_mask=False)}
        t = interleaved(fns, args.repeats, device)
        (tp, cp), (tq, cq), (_, cu) = t["plain"], t["pconv"], t["unchecked"]
        shape = f"{c.in_channels}->{c.out_channels} k{c.kernel_size[0]} s{c.stride[0]} @{s}"
        print(f"{name:<6}{shape:<28}{tp * 1e3:>10.1f}{tq * 1e3:>10.1f}{tq / tp:>8.2f}{cq / cp:>10.2f}{cq / cu:>8.3f}")
        rows.append(
            {
                "layer": name,
                "shape": shape,
                "plain_ms": tp * 1e3,
                "pconv_ms": tq * 1e3,
                "ratio": tq / tp,
                "check": cq / cu,
            }
        )
    return rows


def bench_step(args: argparse.Namespace, device: torch.device, model: PConvUNet) -> dict:
    """(b) and (c); returns their figures (ms, images/s, peak MiB and the ratios) for `--json`."""
    print(f"\n(b) training step (fwd + L1 + bwd + Adam), {args.size}x{args.size}, batch {args.batch_size}")
    mf = torch.channels_last if args.channels_last else torch.contiguous_format
    nets = {
        "plain": Twin(model, "plain"),
        "pconv": model,
        "naive": Twin(model, "naive"),
        "unet": Unchecked(model),
    }
    image = torch.rand(args.batch_size, 3, args.size, args.size, device=device).to(memory_format=mf)
    mask = block_mask(args.batch_size, args.size, args.hole, device)
    with torch.no_grad():  # the three compute the same function (train-mode BatchNorm)
        ref = model(image, mask)[0]
        diff = (Twin(model, "naive").to(device)(image, mask) - ref).abs().max().item()
    print(f"naive vs pconv max |output difference|: {diff:.2e}")

    fns = {
        name: train_step(net, (image, mask), lambda out: F.l1_loss(out, image), args, device)
        for name, net in nets.items()
    }
    peaks = {}
    for name, fn in fns.items():
        fn()  # allocate Adam state first: it is not activation memory
        peaks[name] = peak_bytes(fn, device)
    t = interleaved(fns, args.repeats, device)
    n = args.batch_size
    fig = {"step": {}, "infer": {}, "ratios": {}}
    for name in fns:
        print(
            f"{name:<6} wall {t[name][0] * 1e3:9.1f} ms/step, cpu {t[name][1] * 1e3:9.1f} ms/step, "
            f"{n / t[name][0]:8.1f} img/s, peak {peaks[name] / 2**20:8.1f} MiB"
        )
        fig["step"][name] = {"ms": t[name][0] * 1e3, "img_s": n / t[name][0], "peak_mib": peaks[name] / 2**20}
    for a, b, target in [("pconv", "plain", "<= 1.05"), ("naive", "pconv", ">= 1.7"), ("pconv", "unet", "~ 1")]:
        print(f"{a} / {b} time   wall {t[a][0] / t[b][0]:.3f}, cpu {t[a][1] / t[b][1]:.3f}   (target {target})")
        fig["ratios"][f"step {a}/{b} time"] = t[a][0] / t[b][0]
    print(f"pconv / plain memory {peaks['pconv'] / peaks['plain']:.3f}   (target <= 1.10)")
    print(f"naive / pconv memory {peaks['naive'] / peaks['pconv']:.3f}")
    fig["ratios"]["step pconv/plain memory"] = peaks["pconv"] / peaks["plain"]
    fig["ratios"]["step naive/pconv memory"] = peaks["naive"] / peaks["pconv"]
    if device.type == "cpu":
        op_accounting(fns)

    print("\n(c) inference (eval mode, no grad, forward only)")
    infer = {name: inference(net, (image, mask), args, device) for name, net in nets.items()}
    t = interleaved(infer, args.repeats, device)
    for name in infer:
        print(f"{name:<6} wall {t[name][0] * 1e3:9.1f} ms, cpu {t[name][1] * 1e3:9.1f} ms, {n / t[name][0]:8.1f} img/s")
        fig["infer"][name] = {"ms": t[name][0] * 1e3, "img_s": n / t[name][0]}
    for a, b in [("pconv", "plain"), ("naive", "pconv"), ("pconv", "unet")]:
        print(f"{a} / {b} time   wall {t[a][0] / t[b][0]:.3f}, cpu {t[a][1] / t[b][1]:.3f}")
        fig["ratios"][f"infer {a}/{b} time"] = t[a][0] / t[b][0]
    return fig


def bench_variants(args: argparse.Namespace, device: torch.device, model: PConvUNet) -> dict:
    """(d) `PConvUNet(conv=...)` for each convolution against the plain twin: step, inference, peak memory."""
    print(
        f"\n(d) convolution variants, {args.size}x{args.size}, batch {args.batch_size}: PConvUNet(conv=...) "
        "against the plain twin (bare nn.Conv2d, no mask path, no entry checks: the limit)"
    )
    mf = torch.channels_last if args.channels_last else torch.contiguous_format
    torch.manual_seed(0)
    shape = dict(layers=args.layers, base_channels=args.base_channels)
    nets = {
        "twin": Twin(model, "plain"),
        "partial": model,
        "plain": PConvUNet(**shape, conv="plain", hole_value=0.5),
        "gated": PConvUNet(**shape, conv="gated"),
    }
    image = torch.rand(args.batch_size, 3, args.size, args.size, device=device).to(memory_format=mf)
    mask = block_mask(args.batch_size, args.size, args.hole, device)
    fns = {
        name: train_step(net, (image, mask), lambda out: F.l1_loss(out, image), args, device)
        for name, net in nets.items()
    }
    peaks = {}
    for name, fn in fns.items():
        fn()  # Adam state first: it is not activation memory
        peaks[name] = peak_bytes(fn, device)
    step = interleaved(fns, args.repeats, device)
    infer = interleaved(
        {n: inference(net, (image, mask), args, device) for n, net in nets.items()}, args.repeats, device
    )
    fig = {"step": {}, "infer": {}, "params": {}, "ratios": {}}
    print(f"{'network':<9}{'params':>9}{'step ms':>10}{'cpu ms':>10}{'infer ms':>10}{'peak MiB':>10}")
    for name, net in nets.items():
        n = sum(p.numel() for p in net.parameters())
        print(
            f"{name:<9}{n / 1e6:>8.2f}M{step[name][0] * 1e3:>10.1f}{step[name][1] * 1e3:>10.1f}"
            f"{infer[name][0] * 1e3:>10.1f}{peaks[name] / 2**20:>10.1f}"
        )
        fig["step"][name] = {"ms": step[name][0] * 1e3, "cpu_ms": step[name][1] * 1e3, "peak_mib": peaks[name] / 2**20}
        fig["infer"][name] = {"ms": infer[name][0] * 1e3, "cpu_ms": infer[name][1] * 1e3}
        fig["params"][name] = n
    for name in ("partial", "plain", "gated"):
        r = {
            "step": step[name][0] / step["twin"][0],
            "step cpu": step[name][1] / step["twin"][1],
            "infer": infer[name][0] / infer["twin"][0],
            "infer cpu": infer[name][1] / infer["twin"][1],
            "memory": peaks[name] / peaks["twin"],
        }
        print(
            f"{name} / twin   step wall {r['step']:.3f}, cpu {r['step cpu']:.3f}; inference wall {r['infer']:.3f}, "
            f"cpu {r['infer cpu']:.3f}; memory {r['memory']:.3f}"
        )
        fig["ratios"].update({f"variants {k} {name}/twin": v for k, v in r.items()})
    return fig


def bench_padding(args: argparse.Namespace, device: torch.device) -> dict:
    """(e) `UNet(padding="partial")` against `UNet(padding="zeros")`, the same weights: step and inference."""
    f = args.unet_features
    print(f"\n(e) U-Net padding, UNet{f}, {args.size}x{args.size}, batch {args.batch_size}: partial against zeros")
    torch.manual_seed(0)
    nets = {"zeros": UNet(features=f, padding="zeros"), "partial": UNet(features=f, padding="partial")}
    nets["partial"].load_state_dict(nets["zeros"].state_dict())  # the same parameters; only the padding differs
    mf = torch.channels_last if args.channels_last else torch.contiguous_format
    image = torch.rand(args.batch_size, 3, args.size, args.size, device=device).to(memory_format=mf)
    target = block_mask(args.batch_size, args.size, args.hole, device)  # a binary target, any will do

    def bce(logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, target)

    step = interleaved(
        {n: train_step(net, (image,), bce, args, device) for n, net in nets.items()}, args.repeats, device
    )
    infer = interleaved({n: inference(net, (image,), args, device) for n, net in nets.items()}, args.repeats, device)
    fig = {"step": {}, "infer": {}, "ratios": {}}
    for name in nets:
        print(
            f"{name:<8} step wall {step[name][0] * 1e3:9.1f} ms, cpu {step[name][1] * 1e3:9.1f} ms; "
            f"inference wall {infer[name][0] * 1e3:9.1f} ms, cpu {infer[name][1] * 1e3:9.1f} ms"
        )
        fig["step"][name] = {"ms": step[name][0] * 1e3, "cpu_ms": step[name][1] * 1e3}
        fig["infer"][name] = {"ms": infer[name][0] * 1e3, "cpu_ms": infer[name][1] * 1e3}
    for kind, t in (("step", step), ("infer", infer)):
        wall, cpu = t["partial"][0] / t["zeros"][0], t["partial"][1] / t["zeros"][1]
        print(f"partial / zeros {kind:<5} wall {wall:.3f}, cpu {cpu:.3f}")
        fig["ratios"][f"padding {kind} partial/zeros"] = wall
        fig["ratios"][f"padding {kind} cpu partial/zeros"] = cpu
    return fig


def op_accounting(fns: dict[str, Callable[[], None]]) -> None:
    """Split one profiled step's self CPU time into convolutions, mask-path window sums
    (1-channel convolutions) and everything else. Unlike wall-clock ratios on a shared
    machine, the extra non-convolution time is a steady estimate of the mask path's cost."""
    from torch.profiler import ProfilerActivity, profile

    parts = {}
    for name in ("plain", "pconv"):
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            fns[name]()
        conv = mask_conv = other = 0.0
        for ev in prof.key_averages(group_by_input_shape=True):
            ms = ev.self_cpu_time_total / 1e3
            if "convolution" not in ev.key:
                other += ms
            elif len(ev.input_shapes) > 1 and ev.input_shapes[1][:2] == [1, 1]:
                mask_conv += ms
            else:
                conv += ms
        parts[name] = (conv, mask_conv, other)
        print(
            f"{name:<6} profiled step: convolutions {conv:8.1f} ms, mask window sums {mask_conv:6.1f} ms, "
            f"other ops {other:8.1f} ms"
        )
    (c0, _, o0), (_, m1, o1) = parts["plain"], parts["pconv"]
    print(
        f"mask-path overhead estimate: (window sums + extra other ops) / plain step = {(m1 + o1 - o0) / (c0 + o0):+.1%}"
    )


def main() -> None:
    args = parse_args()
    device = common.setup(args)
    torch.manual_seed(0)
    model = PConvUNet(layers=args.layers, base_channels=args.base_channels).to(device)
    n = sum(p.numel() for p in model.parameters())
    print(
        f"torch {torch.__version__}, device {device} ({common.device_name(device)}), "
        f"threads {torch.get_num_threads()}, {common.precision(args, device)}, channels_last {args.channels_last}, "
        f"compile {args.compile}; "
        f"PConvUNet {n / 1e6:.2f}M params, {args.repeats} repeats, medians"
    )
    layers = None if args.skip_layers else bench_layers(args, device, model)
    fig = bench_step(args, device, model)
    variants = padding = None
    if not args.skip_variants:
        variants, padding = bench_variants(args, device, model), bench_padding(args, device)
        fig["ratios"].update({**variants.pop("ratios"), **padding.pop("ratios")})
    record = {"bench": "bench_pconv", "layers_table": layers, **fig, "variants": variants, "padding": padding}
    common.write_json(args, device, record)
    r, step = fig["ratios"], fig["step"]["pconv"]
    extra = ""
    if variants is not None:
        extra = (
            f"; step vs twin: plain {r['variants step plain/twin']:.2f}, gated {r['variants step gated/twin']:.2f}; "
            f"U-Net padding partial/zeros step {r['padding step partial/zeros']:.2f}"
        )
    print(
        f"summary: {args.size}px {common.precision(args, device).split()[0]}"
        f"{' channels_last' if args.channels_last else ''}: PConvUNet step {step['img_s']:.1f} img/s, "
        f"peak {step['peak_mib']:.1f} MiB; pconv/plain time {r['step pconv/plain time']:.2f}, "
        f"memory {r['step pconv/plain memory']:.2f}; naive/pconv time {r['step naive/pconv time']:.2f} "
        f"(inference {r['infer naive/pconv time']:.2f}){extra}"
    )


if __name__ == "__main__":
    main()
