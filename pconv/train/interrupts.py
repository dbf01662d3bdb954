"""Stopping a run by signal: Ctrl-C (SIGINT), SIGTERM and SIGHUP all mean "save a checkpoint, then stop".

Schedulers, `kill` and `timeout` send SIGTERM; a terminal and Jupyter's stop button
send SIGINT, which Python turns into KeyboardInterrupt; closing the terminal or the SSH
session sends SIGHUP, which would otherwise kill the process with no checkpoint. Inside
`sigterm_interrupts` each of them raises `Interrupted` (a KeyboardInterrupt), so the trainer
handles all alike; once the first has been raised, the ones that follow (a second Ctrl-C
15 ms later) are noted and ignored until the block ends, so they cannot break the
checkpoint being saved or print a traceback on the way out. `defer_interrupt` holds them
over a critical section (an optimizer update, a checkpoint write) and raises afterwards.
The CLI exits with the shell's code for the signal, 128 + its number: 129 for SIGHUP,
130 for SIGINT, 143 for SIGTERM. Signal handlers can only be set in the main thread;
elsewhere (the widgets' training thread) these are no-ops. A signal the process ignores
(SIG_IGN: SIGHUP under nohup, SIGTERM under some launchers) stays ignored.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = [
    "Interrupted",
    "STOP_SIGNALS",
    "signal_of",
    "exit_status",
    "sigterm_interrupts",
    "defer_interrupt",
]

log = logging.getLogger("pconv.train.trainer")
STOP_SIGNALS = tuple(s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None)
# Shared by nested blocks (the CLI's around the trainer's): how deep, and whether a stop signal was
# raised in them already, so that the process is on its way out and later signals are only noted.
_state = {"depth": 0, "stopping": False}


class Interrupted(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived; `signum` says which."""

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


def _ignore_repeat(signum: int) -> None:
    log.warning("%s: already stopping; saving first, then exiting", signal.Signals(signum).name)


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """Within the block SIGINT, SIGTERM and SIGHUP raise `Interrupted(signum)`, the first one only.

    Later ones are logged and ignored until the outermost such block ends (the process is
    already stopping); ignored signals (SIG_IGN) stay ignored.
    """
    if not _main_thread():
        yield
        return
    if _state["depth"] == 0:
        _state["stopping"] = False

    def interrupt(signum: int, frame: object) -> None:
        if _state["stopping"]:
            _ignore_repeat(signum)
            return
        _state["stopping"] = True
        raise Interrupted(signum)

    caught = [s for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN]
    old = {s: signal.signal(s, interrupt) for s in caught}
    _state["depth"] += 1
    try:
        yield
    finally:
        _state["depth"] -= 1
        for s, handler in old.items():
            _restore(s, handler)


@contextmanager
def defer_interrupt() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP until the block ends, then raise `Interrupted` for the first that came.

    Signals the process ignores stay ignored. When the block itself raises, that exception
    propagates and a held signal is dropped (the run is ending anyway); so is a held signal
    when a stop signal was already raised inside `sigterm_interrupts`.
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
    if hits and _state["depth"] and _state["stopping"]:
        _ignore_repeat(hits[0])
    elif hits:
        _state["stopping"] = _state["depth"] > 0
        raise Interrupted(hits[0])
