"""The inpainting studio's run thread: fills are computed off the kernel's thread, requests coalesce.

A network's forward pass takes from milliseconds to seconds; run in the kernel's thread, it
would hold back every mouse event that arrives meanwhile, and a stroke would stutter.
`BackgroundRunner` runs the studio's fills in a daemon thread instead. A request made while a
run is going (or waiting) does not queue a run per request: the requests coalesce into one more
run, which sees the newest mask. A request with a delay is debounced: the live mode waits for
a short quiet moment after a Python-side change (`pconv.notebook.studio_ui.LIVE_DEBOUNCE`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

__all__ = ["BackgroundRunner"]


class BackgroundRunner:
    """Run `fn` in a background thread; requests made while it runs coalesce into one more run.

    `request(delay)` debounces: a new request within `delay` seconds replaces the waiting one.
    """

    def __init__(self, fn: Callable[[], Any], on_error: Callable[[BaseException], None]):
        self._fn, self._on_error = fn, on_error
        self._cond = threading.Condition()
        self._timer: threading.Timer | None = None
        self._busy = self._pending = False

    def request(self, delay: float = 0.0) -> None:
        """Run `fn` after `delay` seconds (0: now), or once more after the current run."""
        with self._cond:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if delay > 0:
                self._timer = threading.Timer(delay, self._fire)
                self._timer.daemon = True
                self._timer.start()
            else:
                self._start()

    def _fire(self) -> None:
        with self._cond:
            if self._timer is not threading.current_thread():
                return  # cancelled and replaced after it had already woken up
            self._timer = None
            self._start()

    def _start(self) -> None:  # with self._cond held
        if self._busy:
            self._pending = True
            return
        self._busy = True
        threading.Thread(target=self._work, name="pconv-studio-run", daemon=True).start()

    def _work(self) -> None:
        while True:
            try:
                self._fn()
            except Exception as e:  # noqa: BLE001  (a thread has no caller to raise to: show it)
                self._on_error(e)
            with self._cond:
                if not self._pending:
                    self._busy = False
                    self._cond.notify_all()
                    return
                self._pending = False

    def wait(self, timeout: float | None = None) -> bool:
        """Block until no run is going or waiting; True unless `timeout` ran out first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy and self._timer is None, timeout)
