"""The training panel's notes: what a panel run's trainer logs, shown in the panel as a note, not as an error.

A run that continues another one changes some of its settings on purpose ("steps is 12 now but
was 10"), and the trainer logs each change as a warning (pconv/train/trainer.py). Python's
last-resort handler would print it on stderr, which Jupyter paints pink like an error, in
whichever cell happens to be running. `TrainerNotes` takes the records logged from one thread
(the panel's training thread) off the trainer's logger and hands them to the panel, which shows
them in an info style (`info_html`); anything logged from other threads is left alone. A
failure of the run itself is shown in the error style (`error_html`).
"""

from __future__ import annotations

import html
import logging
import threading
from collections.abc import Callable

__all__ = ["ERROR_STYLE", "INFO_STYLE", "TrainerNotes", "error_html", "info_html"]

INFO_STYLE = "color:#0b4a60;background:#e8f4f8;border-left:3px solid #3a8fb7;padding:1px 6px"
ERROR_STYLE = "color:#b00;background:#fdecea;border-left:3px solid #b00;padding:1px 6px"
TRAINER_LOGGER = "pconv.train.trainer"  # every pconv.train module logs there


def info_html(text: str) -> str:
    """`text` (plain) as an expected note: blue on light blue, never the error's red."""
    return f"<span style='{INFO_STYLE}'>{html.escape(text, quote=False)}</span>"


def error_html(text: str) -> str:
    """`text` (plain) as an error: red."""
    return f"<span style='{ERROR_STYLE}'>{html.escape(text, quote=False)}</span>"


class TrainerNotes(logging.Filter):
    """A filter on the trainer's logger that passes one thread's records to `sink` instead of any handler.

    Use as a context manager around the run, inside the thread whose records it takes:
    `with TrainerNotes(sink): trainer.fit(...)`. Records of every other thread go on as before.

    Args:
        sink: called with (level number, message) for each record of that thread.
    """

    def __init__(self, sink: Callable[[int, str], None]):
        super().__init__()
        self.sink, self.thread = sink, None

    def filter(self, record: logging.LogRecord) -> bool:
        if record.thread != self.thread:
            return True
        self.sink(record.levelno, record.getMessage())
        return False  # taken: not printed on stderr as well

    def __enter__(self) -> TrainerNotes:
        self.thread = threading.get_ident()
        logging.getLogger(TRAINER_LOGGER).addFilter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger(TRAINER_LOGGER).removeFilter(self)
