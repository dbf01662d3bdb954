"""The `python -m pconv pretrained {list,download,convert}` subcommands (the parser is `pconv.cli.parser`).

    python -m pconv pretrained list                        # published PSNR/SSIM, each file's full path, valid or not
    python -m pconv pretrained download mmagic-celeba      # into data_dir()/pretrained/NAME/, checked
    python -m pconv pretrained convert 1000000.pth naoto.pt --source naoto
    python -m pconv evaluate --checkpoint naoto.pt         # a converted file is a normal pconv checkpoint

The public checkpoints of the paper's network (Liu et al. 2018) and their exact conversion
live in `pconv.pretrained` (registry.py, cache.py, files.py, loading.py, convert.py); this module only
parses and prints.
"""

from __future__ import annotations

import argparse
import os
import textwrap
from pathlib import Path
from typing import Any

from pconv.cli.args import model_source, output
from pconv.cli.errors import UsageError
from pconv.pretrained import (
    PRETRAINED,
    SOURCES,
    cache_path,
    cache_state,
    download_pretrained,
    load_pretrained,
    sha256_of,
)
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
        "to pconv's PConvUNet; files are cached under data_dir()/pretrained/NAME/ and checked (hash, or layout "
        "and depth where no hash is published).",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="{list,download,convert}")
    actions.add_parser(
        "list", help="the known checkpoints, where each file goes, and whether the one there is valid"
    ).set_defaults(func=pretrained_list)
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


def _say(text: str, indent: str = "") -> None:
    """Print prose wrapped at 100 columns (later lines under `indent` + 2), never breaking a path or URL."""
    hang = indent + "  " if indent else ""
    print(
        textwrap.fill(
            text, 100, initial_indent=indent, subsequent_indent=hang, break_long_words=False, break_on_hyphens=False
        )
    )


def pretrained_list(args: argparse.Namespace) -> int:
    """`pretrained list`: each model's published figures, the full path of its file and whether that file is valid."""
    states = [cache_state(name) for name in PRETRAINED]
    rows = [("name", "source", "size", "PSNR", "SSIM", "file (a file downloaded by hand goes exactly there)", "cached")]
    for s in states:
        e = PRETRAINED[s.name]
        psnr, ssim = (_figure(e.published.get(k)) for k in ("psnr", "ssim"))
        where = s.path if s.present or e.name_published else s.path.parent / "<any-name>.pth"
        status = "yes" if s.valid else "INVALID" if s.present else "no"
        rows.append((s.name, e.source, f"{e.resolution}", psnr, ssim, str(where), status))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    bad = [s for s in states if s.present and not s.valid]
    if bad:
        print("\nINVALID (left as they are: nothing here deletes a file):")
        for s in bad:
            _say(f"{s.name}: {s.problem}", indent="  ")
    for name, e in PRETRAINED.items():
        if not e.name_published:
            print()
            _say(
                f"{name}: its file name is not published (the README links only the release page {e.page}); "
                f"the download tries {e.filename}. Any one .pth or .pt file in {cache_path(name).parent}/ is "
                "taken, whatever its name."
            )
    print()
    _say(
        "Valid: the SHA-256 starts with the published prefix or, where no hash is published, the file reads as "
        "that source's layout with the entry's number of layers. `python -m pconv pretrained download NAME` "
        "fetches a file, `evaluate --pretrained NAME` scores it; PSNR/SSIM as the source published them, on its "
        "own test set and masks. Data, training and license: PRETRAINED[NAME] (pconv.pretrained)."
    )
    return 0


def pretrained_download(args: argparse.Namespace) -> int:
    """`pretrained download NAME`: the path of the valid cached file (a bad one there is named, exit status 2)."""
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
