"""The `python -m pconv pretrained {list,download,convert}` subcommands (the parser is `pconv.cli.parser`).

    python -m pconv pretrained list                        # name, data, size, published PSNR/SSIM, cached
    python -m pconv pretrained download mmagic-celeba      # into data_dir()/pretrained/, hash-checked
    python -m pconv pretrained convert 1000000.pth naoto.pt --source naoto
    python -m pconv evaluate --checkpoint naoto.pt         # a converted file is a normal pconv checkpoint

The public checkpoints of the paper's network (Liu et al. 2018) and their exact conversion
live in `pconv.pretrained` (registry.py, loading.py, convert.py); this module only parses and prints.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from pconv.cli.args import model_source, output
from pconv.cli.errors import UsageError
from pconv.pretrained import PRETRAINED, SOURCES, cache_path, cached, download_pretrained, load_pretrained, sha256_of
from pconv.train import model_info, save_checkpoint
from pconv.utils import writing

__all__ = [
    "add_pretrained_parser",
    "convert_output",
    "pretrained_list",
    "pretrained_download",
    "pretrained_convert",
    "pretrained_model",
]


def add_pretrained_parser(sub: Any) -> None:
    """Add `pretrained` and its three subcommands to the CLI's subparsers `sub`."""
    p = sub.add_parser(
        "pretrained",
        help="public PConv checkpoints: list, download, convert to a pconv checkpoint",
        description="The public checkpoints of the paper's network (naoto0804, mmagic), converted exactly "
        "to pconv's PConvUNet; files are cached under data_dir()/pretrained/ and hash-checked.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="{list,download,convert}")
    actions.add_parser("list", help="the known checkpoints and whether they are cached").set_defaults(
        func=pretrained_list
    )
    d = actions.add_parser("download", help="download a checkpoint into the cache (once)")
    d.add_argument("name", help="a name from `pretrained list`")
    d.set_defaults(func=pretrained_download)
    c = actions.add_parser(
        "convert",
        help="write a checkpoint file as a pconv *.pt checkpoint (for `evaluate --checkpoint`)",
        description="Convert a checkpoint of naoto0804's or mmagic's PConv (a file or a name from "
        "`pretrained list`) into a pconv checkpoint that `evaluate --checkpoint` and `load_checkpoint` read.",
    )
    c.add_argument(
        "input", metavar="IN", type=model_source, help="a checkpoint file (.pth) or a name from `pretrained list`"
    )
    c.add_argument(
        "output",
        metavar="OUT",
        type=convert_output,
        help="the pconv checkpoint to write (it must not exist yet); an existing folder: OUT/<IN's name>.pt",
    )
    c.add_argument("--source", choices=SOURCES, default=None, help="the file's layout (default: from its keys)")
    c.set_defaults(func=pretrained_convert)


def convert_output(text: str) -> Path:
    """An argparse type for `convert`'s OUT: a path to write (`output`); "dir/" must be an existing folder."""
    out = output(text)
    if text.endswith(("/", os.sep)) and not out.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text} names a folder (it ends with '/') that does not exist; create it first, or give a file name"
        )
    return out


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def pretrained_list(args: argparse.Namespace) -> int:
    """`pretrained list`: a table of the registry, with the published figures and the cache's state."""
    have = set(cached())
    rows = [("name", "source", "data", "size", "PSNR", "SSIM", "cached")]
    for name, e in PRETRAINED.items():
        psnr, ssim = (_figure(e.published.get(k)) for k in ("psnr", "ssim"))
        rows.append((name, e.source, e.data, f"{e.resolution}", psnr, ssim, "yes" if name in have else "no"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    folder = cache_path(next(iter(PRETRAINED))).parent.parent
    print(f"\ncache: {folder}\n`python -m pconv pretrained download NAME` fetches one, `evaluate --pretrained NAME`")
    print("scores it; PSNR/SSIM as the source published them, on its own test set and masks")
    return 0


def pretrained_download(args: argparse.Namespace) -> int:
    """`pretrained download NAME`: the cached, hash-checked file's path."""
    print(download_pretrained(args.name))
    return 0


def pretrained_model(name_or_path: str, source: str | None = None) -> tuple[Any, int]:
    """A pretrained model (`load_pretrained`) and the image size it is meant for: its entry's, else 256."""
    model = load_pretrained(name_or_path, source=source)
    entry = PRETRAINED.get(name_or_path)
    return model, entry.resolution if entry else max(256, model.multiple)


def pretrained_convert(args: argparse.Namespace) -> int:
    """`pretrained convert IN OUT`: a pconv checkpoint (model, its constructor's arguments, provenance)."""
    out = args.output
    if out.is_dir():  # `convert x.pth runs/`: a file in that folder, not one named like it
        out = out / f"{args.input if args.input in PRETRAINED else Path(args.input).stem}.pt"
    if out.exists():
        raise UsageError(f"OUT {out} exists; pconv does not overwrite it: pass a new path, or delete it first")
    model, size = pretrained_model(args.input, args.source)
    source_file = cache_path(args.input) if args.input in PRETRAINED else Path(args.input)
    provenance = {"from": str(args.input), "sha256": sha256_of(source_file), "source": args.source or "detected"}
    config = {"model": model_info(model), "task": "inpainting", "size": size, "pretrained": provenance}
    with writing(out, "checkpoint"):  # a read-only or full disk: one line, and no half-written file
        save_checkpoint({"step": 0, "model": model.state_dict(), "config": config}, out)
    print(
        f"wrote {out}: PConvUNet(layers={model.layers}, normalize={model.config['normalize']}); "
        f"score it with `python -m pconv evaluate --checkpoint {out}`"
    )
    return 0
