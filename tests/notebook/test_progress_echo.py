"""pconv.notebook.progress_echo: what the terminal is told while a notebook runs (cells, lines, progress)."""

from __future__ import annotations

import io

from pconv.notebook import progress_echo
from pconv.notebook.progress_echo import ProgressEcho


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_echo_throttles_bars_and_joins_partial_lines(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress_echo.time, "monotonic", clock)
    out = io.StringIO()
    echo = ProgressEcho(out, total=2, interval=10)
    echo.cell_started("x = 1\n")

    def widget(value):
        echo.message({"msg_type": "comm_msg", "content": {"data": {"method": "update", "state": {"value": value}}}})

    widget("train:\u2007\u2007\u20070%")  # tqdm's left text: the description
    widget("\u20070/100\u2007[00:00&lt;?,\u2007?it/s]")  # shown: the first state of a bar
    clock.now = 3
    widget("\u20071/100\u2007[00:03&lt;05:00]")  # within the interval: not shown
    widget(3.0)  # the bar's numeric value: ignored
    clock.now = 14
    widget("\u200750/100\u2007[00:14&lt;00:14]")
    widget("\u2007100/100\u2007[00:28&lt;00:00]")  # full: always shown
    widget("\u2007100/100\u2007[00:28&lt;00:00]")  # the same state again: not repeated
    echo.message({"msg_type": "stream", "content": {"name": "stdout", "text": "half a "}})
    echo.message({"msg_type": "stream", "content": {"name": "stdout", "text": "line\nnext"}})
    echo.message({"msg_type": "stream", "content": {"name": "stderr", "text": "\r 10%|#| 1/10 [00:01<00:09]"}})
    echo.message({"msg_type": "display_data", "content": {"data": {"text/plain": "<Figure>"}}})
    clock.now = 20
    echo.cell_finished()  # flushes "next"; 6 s since the start: the time is shown
    assert out.getvalue().splitlines() == [
        "[cell 1/2] x = 1",
        "    train:   0% 0/100 [00:00<?, ?it/s]",
        "    train:   0% 50/100 [00:14<00:14]",
        "    train:   0% 100/100 [00:28<00:00]",
        "    half a line",
        "    next",
        "    (20 s)",
    ]
