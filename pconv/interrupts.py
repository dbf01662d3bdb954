"""Stopping a run by signal: Ctrl-C (SIGINT) and SIGTERM both mean "save a checkpoint, then stop".

Schedulers, `kill` and `timeout` send SIGTERM; a terminal and Jupyter's stop button
send SIGINT, which Python turns into KeyboardInterrupt. Inside `sigterm_interrupts`
SIGTERM raises `Interrupted` (a KeyboardInterrupt) as well, so the trainer handles
both alike; `defer_interrupt` holds both over a critical section (an optimizer
update, a checkpoint write) and raises afterwards. The CLI exits with the shell's
code for the signal, 128 + its number: 130 for SIGINT, 143 for SIGTERM. Signal
handlers can only be set in the main thread; elsewhere (the widgets' training
thread) these are no-ops.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Interrupted", "signal_of", "exit_status", "sigterm_interrupts", "defer_interrupt"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM arrived; `signum` says which."""

    def __init__(self, signum: int = signal.SIGINT):
        self.signum = signal.Signals(signum)
        super().__init__(self.signum.name)


def signal_of(e: KeyboardInterrupt) -> signal.Signals:
    """The signal behind a KeyboardInterrupt (a plain one is Ctrl-C: SIGINT)."""
    return getattr(e, "signum", signal.SIGINT)


def exit_status(signum: int) -> int:
    """The exit status a shell reports for a process stopped by `signum`: 128 + its number."""
    return 128 + int(signum)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _restore(signum: int, old: object) -> None:
    default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
    signal.signal(signum, old if old is not None else default)  # None: set outside Python


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block SIGTERM raises `Interrupted(SIGTERM)`, as Ctrl-C raises KeyboardInterrupt.

    A SIGTERM that the process ignores (SIG_IGN, e.g. under nohup) stays ignored.
    """
    if not _main_thread() or signal.getsignal(signal.SIGTERM) is signal.SIG_IGN:
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    old = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        _restore(signal.SIGTERM, old)


@contextmanager
def defer_interrupt() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then raise `Interrupted` for the first that came.

    Signals the process ignores stay ignored. When the block itself raises, that
    exception propagates and a held signal is dropped (the run is ending anyway).
    """
    if not _main_thread():
        yield
        return
    hits: list[int] = []
    held = [s for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]
    old = {s: signal.signal(s, lambda signum, frame: hits.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in old.items():
            _restore(s, handler)
    if hits:
        raise Interrupted(hits[0])
