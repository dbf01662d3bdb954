"""Run a notebook headless (nbclient) and save the executed copy: `make demo` and the tests use it.

    python -m pconv.notebook.runner notebooks/00_quickstart.ipynb [--smoke] [--out DIR] [--timeout S]
        [-p NAME=VALUE ...]

The executed notebook, with its figures inline, is written under `--out`
(default `$PCONV_OUTPUT_DIR`, i.e. `<repo>/outputs`). The notebook's own working
directory is its folder, as in JupyterLab. From the command line the terminal is told
what happens while it runs (`pconv.notebook.progress_echo`): the code cell under way out of
how many, every line the kernel prints, and progress bars as a line every few seconds.
`-p NAME=VALUE` overrides a name of the notebook's `parameters`-tagged cell, as papermill
does (`pconv.notebook.notebook_parameters`).
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from pconv.notebook.notebook_parameters import inject_parameters
from pconv.notebook.progress_echo import ProgressEcho
from pconv.utils import output_dir

__all__ = ["run_notebook", "NotebookError", "main"]


class NotebookError(RuntimeError):
    """A cell raised: the message names the notebook, the cell and the error."""


def _client_class() -> type:
    """nbclient's client class with a `ProgressEcho` hook (nbclient is a test extra: imported when a notebook runs)."""
    from nbclient import NotebookClient

    class EchoingClient(NotebookClient):
        """nbclient's client that also hands every iopub message to a `ProgressEcho`."""

        echo: ProgressEcho | None = None

        def process_message(self, msg: dict, cell: Any, cell_index: int) -> Any:
            if self.echo is not None:
                self.echo.message(msg)
            return super().process_message(msg, cell, cell_index)

    return EchoingClient


def run_notebook(
    path: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    *,
    smoke: bool = False,
    timeout: int = 3600,
    env: dict[str, str] | None = None,
    parameters: Mapping[str, Any] | None = None,
    echo: TextIO | None = None,
) -> Path:
    """Execute `path` top to bottom in a fresh kernel and write the executed copy.

    Args:
        path: the .ipynb file.
        out_dir: where the executed copy goes (default `output_dir()`).
        smoke: set `PCONV_SMOKE=1` in the kernel (tiny configuration).
        timeout: seconds allowed per cell (a guard against a hung cell: the quickstart's
            training cell takes 5-8 minutes on two idle cores, far longer on a busy machine).
        env: extra environment variables for the kernel.
        parameters: values for names of the `parameters`-tagged cell (see `inject_parameters`).
        echo: a text stream (e.g. `sys.stderr`) that is told the cell under way, the
            kernel's output lines and the progress bars as they come; None: silent.

    Returns:
        The path of the executed notebook.

    Raises:
        NotebookError: a cell failed; the executed copy is still written for inspection.
        ValueError: a parameter the notebook does not have, or not a literal.
    """
    import nbformat  # nbclient and nbformat are test extras (pyproject.toml): imported when a notebook runs
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from traitlets.config import Config

    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"notebook not found: {path}")
    out_dir = Path(out_dir) if out_dir is not None else output_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    out_path = out_dir / path.name

    nb = nbformat.read(path, as_version=4)
    inject_parameters(nb, parameters or {}, path.name)
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
    client = _client_class()(
        nb, timeout=timeout, kernel_name="python3", config=config, resources={"metadata": {"path": str(path.parent)}}
    )
    if echo is not None:
        code = [c for c in nb.cells if c.cell_type == "code" and c.source.strip()]
        client.echo = ProgressEcho(echo, len(code))
        client.on_cell_execute = lambda cell, cell_index: client.echo.cell_started(cell.source)
        client.on_cell_executed = lambda cell, cell_index, execute_reply: client.echo.cell_finished()
    try:
        client.execute()
    except CellExecutionError as err:
        nbformat.write(nb, out_path)
        raise NotebookError(f"{path.name} failed; executed copy at {out_path}\n{err}") from None
    except CellTimeoutError:
        nbformat.write(nb, out_path)
        raise NotebookError(
            f"{path.name}: a cell ran longer than {timeout} s and was stopped; executed copy at {out_path}. "
            "A slow or busy machine may need more: pass a larger timeout (--timeout S)."
        ) from None
    except DeadKernelError as err:
        nbformat.write(nb, out_path)
        raise NotebookError(
            f"{path.name}: the kernel died ({err}); out of memory is the usual cause. Executed copy at {out_path}"
        ) from None
    finally:
        os.environ.clear()
        os.environ.update(saved)
        sockets.cleanup()
    nbformat.write(nb, out_path)
    return out_path


def _parameter(text: str) -> tuple[str, Any]:
    """NAME=VALUE from the command line: VALUE as a Python literal, else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. STEPS=300), got {text!r}")
    try:
        return key.strip(), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key.strip(), value


def _children_cpu_seconds() -> float | None:
    """CPU seconds used by finished child processes (the kernel and its workers); None off POSIX."""
    try:
        import resource
    except ImportError:
        return None
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    """`python -m pconv.notebook.runner`: run one notebook, say where its executed copy is.

    Args:
        argv: the command line after the program name; None for `sys.argv[1:]`.

    Returns:
        The exit status: 0 when every cell ran, 1 when a cell failed or the notebook or a parameter is wrong.
    """
    parser = argparse.ArgumentParser(prog="python -m pconv.notebook.runner", description=__doc__.split("\n")[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="folder for the executed copy (default: outputs/)")
    parser.add_argument("--smoke", action="store_true", help="run with PCONV_SMOKE=1 (tiny configuration)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell (default 3600)")
    parser.add_argument(
        "-p",
        "--parameter",
        type=_parameter,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a name of the notebook's parameters cell, e.g. -p STEPS=300 (repeatable)",
    )
    parser.add_argument("--quiet", action="store_true", help="print only the final line, not the cells and progress")
    args = parser.parse_args(argv)
    start, cpu = time.perf_counter(), _children_cpu_seconds()
    try:
        out = run_notebook(
            args.notebook,
            args.out,
            smoke=args.smoke,
            timeout=args.timeout,
            parameters=dict(args.parameter),
            echo=None if args.quiet else sys.stderr,
        )
    except (NotebookError, FileNotFoundError, ValueError) as err:
        print(err, file=sys.stderr)
        return 1
    used = None if cpu is None else _children_cpu_seconds() - cpu
    spent = f"{time.perf_counter() - start:.0f} s" + (f" ({used:.0f} CPU-seconds in the kernel)" if used else "")
    print(f"ran {args.notebook} in {spent}; executed copy: {out}")
    print("figures and tables are inline there; open it with `make lab` or any Jupyter viewer.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
