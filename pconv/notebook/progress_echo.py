"""What a terminal is told while a notebook runs headless: the cell under way, its output, its progress.

`make demo` runs the quickstart notebook for minutes; without this the terminal would stay
silent until the end. `ProgressEcho` reads the kernel's messages as nbclient receives them
(`pconv.notebook.runner`): it prints `[cell k/N]` and the first line of each code cell, every
line the kernel writes, and progress bars at most every few seconds. tqdm's notebook bars are
widgets, so their state is read from the widget updates (`comm_msg`); text bars on a stream
are recognised by their carriage returns.
"""

from __future__ import annotations

import html
import re
import time
from typing import Any, TextIO

__all__ = ["ProgressEcho"]

# The right-hand text of a tqdm bar: " 120/2000 [00:30<07:40,  4.08it/s, loss=0.1]"
_TQDM_COUNT = re.compile(r"^\s*\d+(?:\.\d+)?[kMG]?/\d+(?:\.\d+)?[kMG]?\s*\[")
_TQDM_DONE = re.compile(r"(?:^|\s|\|)(\d+)/(\1)\s*\[")  # "2000/2000 [": the bar is full


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
