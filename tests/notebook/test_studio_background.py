"""pconv.notebook.studio_background: the studio's run thread coalesces and debounces requests."""

from __future__ import annotations

import threading

from pconv.notebook.studio_background import BackgroundRunner


def test_requests_during_a_run_coalesce_into_one_more_run():
    started, release, runs = threading.Event(), threading.Event(), []

    def work():
        runs.append(1)
        started.set()
        release.wait(10)

    runner = BackgroundRunner(work, on_error=lambda e: None)
    runner.request()
    assert started.wait(10)
    for _ in range(5):
        runner.request()
    release.set()
    assert runner.wait(10) and len(runs) == 2
    for _ in range(5):
        runner.request(delay=0.2)  # debounced: one run after the last request
    assert runner.wait(10) and len(runs) == 3
