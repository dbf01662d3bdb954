"""Run a notebook headless (nbclient) and save the executed copy: `make demo` and the tests use it.

    python -m pconv.notebook.runner notebooks/00_quickstart.ipynb [--smoke] [--out DIR] [--timeout S]
        [-p NAME=VALUE ...]

The executed notebook, with its figures inline, is written under `--out`
(default `$PCONV_OUTPUT_DIR`, i.e. `<repo>/outputs`). The notebook's own working
directory is its folder, as in JupyterLab. From the command line the terminal is told
what happens while it runs: the code cell under way out of how many, every line the
kernel prints, and progress bars (tqdm's notebook widgets, read from their updates) as
a line every few seconds. `-p NAME=VALUE` overrides a name of the notebook's
`parameters`-tagged cell, as papermill does: a cell setting it is inserted after that cell.

Longer than ~300 lines because it is one tool, a command and its function: running the
kernel, injecting parameters and echoing progress to the terminal all serve that one call.
"""

from __future__ import annotations

import argparse
import ast
import html
import os
import re
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from pconv.utils import output_dir

__all__ = ["run_notebook", "NotebookError", "inject_parameters", "ProgressEcho"]

# The right-hand text of a tqdm bar: " 120/2000 [00:30<07:40,  4.08it/s, loss=0.1]"
_TQDM_COUNT = re.compile(r"^\s*\d+(?:\.\d+)?[kMG]?/\d+(?:\.\d+)?[kMG]?\s*\[")
_TQDM_DONE = re.compile(r"(?:^|\s|\|)(\d+)/(\1)\s*\[")  # "2000/2000 [": the bar is full


class NotebookError(RuntimeError):
    """A cell raised: the message names the notebook, the cell and the error."""


def _parameter_names(source: str, notebook: str) -> list[str]:
    """Names assigned at the top level of a parameters cell."""
    try:
        tree = ast.parse(source)
    except SyntaxError as err:
        raise ValueError(f"{notebook}: the parameters cell is not plain Python ({err})") from None
    names = []
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def inject_parameters(nb: Any, parameters: Mapping[str, Any], name: str = "notebook") -> None:
    """Insert a cell setting `parameters` right after the `parameters`-tagged cell of `nb` (in place).

    Args:
        nb: an nbformat notebook.
        parameters: NAME -> value; values must be Python literals (numbers, strings, bools,
            None, and tuples, lists and dicts of those), since they are written as source.
        name: the notebook's name, for error messages.

    Raises:
        ValueError: the notebook has no `parameters` cell, a name is not one of its
            parameters, or a value is not a literal.
    """
    if not parameters:
        return
    index = next(
        (i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])),
        None,
    )
    if index is None:
        raise ValueError(f"{name} has no code cell tagged 'parameters' to override; set the values in the notebook")
    known = _parameter_names(nb.cells[index].source, name)
    lines = ["# Parameters injected by pconv.notebook.runner"]
    for key, value in parameters.items():
        if key not in known:
            raise ValueError(f"{name}: {key!r} is not a parameter of this notebook; its parameters are {known}")
        text = repr(value)
        try:
            same = ast.literal_eval(text) == value
        except (ValueError, SyntaxError):
            same = False
        if not same:
            raise ValueError(f"{name}: parameter {key} = {text} is not a Python literal (number, string, list, ...)")
        lines.append(f"{key} = {text}")
    import nbformat

    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(index + 1, cell)


class ProgressEcho:
    """Tells a terminal what a headless notebook run is doing.

    Prints `[cell k/N] <first line of the cell>` when a code cell starts, each line the
    kernel writes to stdout or stderr as it comes (indented), and progress bars as a line
    at most every `interval` seconds (and when one finishes). Progress bars are tqdm's
    notebook widgets, read from the widget updates the kernel sends, or text bars
    (carriage returns) on a stream.

    Args:
        stream: where to write (e.g. `sys.stderr`).
        total: the number of code cells that will run.
        interval: seconds between two progress lines of the same run.
    """

    def __init__(self, stream: TextIO, total: int, interval: float = 10.0):
        self.stream, self.total, self.interval = stream, total, interval
        self.count, self._started = 0, 0.0
        self._left = ""  # the latest tqdm description ("train:  6%")
        self._last_progress, self._last_text = -float("inf"), ""
        self._partial: dict[str, str] = {}

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def cell_started(self, source: str) -> None:
        """A code cell is about to run."""
        self.flush()
        self.count += 1
        first = next((ln.strip() for ln in source.splitlines() if ln.strip() and not ln.startswith("%")), "")
        self._write(f"[cell {self.count}/{self.total}] {first[:90]}")
        self._started, self._last_progress = time.monotonic(), -float("inf")

    def cell_finished(self) -> None:
        """The current cell finished; its time is reported when it took a while."""
        self.flush()
        seconds = time.monotonic() - self._started
        if seconds >= 5:
            self._write(f"    ({seconds:.0f} s)")

    def progress(self, text: str) -> None:
        """A progress bar's current state; printed when `interval` has passed or the bar is full."""
        now, text = time.monotonic(), text.strip()
        if text == self._last_text:  # a bar's final state arrives twice (the last redraw, then close)
            return
        if _TQDM_DONE.search(text) or now - self._last_progress >= self.interval:
            self._last_progress, self._last_text = now, text
            self._write(f"    {text}")

    def text(self, name: str, text: str) -> None:
        """Text the kernel wrote to stream `name` ("stdout" or "stderr")."""
        buffered = self._partial.pop(name, "") + text
        *lines, rest = buffered.split("\n")
        for line in lines:
            self._line(line)
        if "\r" in rest:  # a text progress bar redraws its line: show its latest state, keep nothing
            self._line(rest)
        elif rest:
            self._partial[name] = rest

    def _line(self, line: str) -> None:
        if "\r" in line:
            shown = [seg for seg in line.split("\r") if seg.strip()]
            if shown:
                self.progress(shown[-1])
        elif line.strip():
            self._write(f"    {line.rstrip()}")

    def flush(self) -> None:
        """Print what is left of unfinished lines."""
        for name in list(self._partial):
            self._line(self._partial.pop(name))

    def message(self, msg: dict[str, Any]) -> None:
        """One kernel (iopub) message: streams and tqdm widget updates are echoed."""
        kind, content = msg.get("msg_type"), msg.get("content", {})
        if kind == "stream":
            self.text(content.get("name", "stdout"), content.get("text", ""))
        elif kind == "comm_msg":
            value = (content.get("data") or {}).get("state", {}).get("value")
            if isinstance(value, str):
                value = html.unescape(value).replace("\u2007", " ")  # tqdm pads with figure spaces
                if _TQDM_COUNT.match(value):
                    self.progress(f"{self._left.strip()} {value.strip()}")
                else:
                    self._left = value


def _client_class() -> type:
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
    import nbformat
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
