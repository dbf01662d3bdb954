"""Run a notebook headless (nbclient) and save the executed copy: `make demo` and the tests use it.

    python -m pconv.nbrun notebooks/00_quickstart.ipynb [--smoke] [--out DIR] [--timeout S]

The executed notebook, with its figures inline, is written under `--out`
(default `$PCONV_OUTPUT_DIR`, i.e. `<repo>/outputs`). The notebook's own working
directory is its folder, as in JupyterLab.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from .utils import output_dir

__all__ = ["run_notebook"]


class NotebookError(RuntimeError):
    """A cell raised: the message names the notebook, the cell and the error."""


def run_notebook(
    path: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    *,
    smoke: bool = False,
    timeout: int = 1200,
    env: dict[str, str] | None = None,
) -> Path:
    """Execute `path` top to bottom in a fresh kernel and write the executed copy.

    Args:
        path: the .ipynb file.
        out_dir: where the executed copy goes (default `output_dir()`).
        smoke: set `PCONV_SMOKE=1` in the kernel (tiny configuration).
        timeout: seconds allowed per cell.
        env: extra environment variables for the kernel.

    Returns:
        The path of the executed notebook.

    Raises:
        NotebookError: a cell failed; the executed copy is still written for inspection.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from traitlets.config import Config

    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"notebook not found: {path}")
    out_dir = Path(out_dir) if out_dir is not None else output_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    out_path = out_dir / path.name

    nb = nbformat.read(path, as_version=4)
    saved = dict(os.environ)
    os.environ.update(env or {})
    if smoke:
        os.environ["PCONV_SMOKE"] = "1"
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    sockets = tempfile.TemporaryDirectory(prefix="pconv-kernel-")
    config = Config()
    if os.name == "posix":  # local sockets: no TCP port, and no plain-text-over-TCP warning from the kernel
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = os.path.join(sockets.name, "kernel")
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", config=config, resources={"metadata": {"path": str(path.parent)}}
    )
    try:
        client.execute()
    except CellExecutionError as err:
        nbformat.write(nb, out_path)
        raise NotebookError(f"{path.name} failed; executed copy at {out_path}\n{err}") from None
    finally:
        os.environ.clear()
        os.environ.update(saved)
        sockets.cleanup()
    nbformat.write(nb, out_path)
    return out_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pconv.nbrun", description=__doc__.split("\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="folder for the executed copy (default: outputs/)")
    parser.add_argument("--smoke", action="store_true", help="run with PCONV_SMOKE=1 (tiny configuration)")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        out = run_notebook(args.notebook, args.out, smoke=args.smoke, timeout=args.timeout)
    except (NotebookError, FileNotFoundError) as err:
        print(err, file=sys.stderr)
        return 1
    print(f"ran {args.notebook} in {time.perf_counter() - start:.0f} s; executed copy: {out}")
    print("figures and tables are inline there; open it with `make lab` or any Jupyter viewer.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
