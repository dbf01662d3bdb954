"""pconv.notebook.panel_notes: one thread's trainer records go to the panel, every other thread's stay as they were."""

from __future__ import annotations

import logging
import threading

from pconv.notebook.panel_notes import ERROR_STYLE, INFO_STYLE, TrainerNotes, error_html, info_html

log = logging.getLogger("pconv.train.trainer")


class _Collect(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_records_of_the_run_thread_go_to_the_sink_and_no_further():
    handler, notes = _Collect(), []
    log.addHandler(handler)
    try:

        def run():
            with TrainerNotes(lambda level, text: notes.append((level, text))):
                log.warning("resume: %s is %r now but was %r", "steps", 12, 10)
                other = threading.Thread(target=lambda: log.warning("from another thread"))
                other.start()
                other.join()
            log.warning("after the run")

        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    finally:
        log.removeHandler(handler)
    assert notes == [(logging.WARNING, "resume: steps is 12 now but was 10")]
    assert handler.messages == ["from another thread", "after the run"]  # untouched, and the filter is gone
    assert not log.filters


def test_notes_and_errors_have_their_own_styles_and_are_escaped():
    assert info_html("a < b") == f"<span style='{INFO_STYLE}'>a &lt; b</span>"
    assert error_html("x & y") == f"<span style='{ERROR_STYLE}'>x &amp; y</span>"
    assert "#b00" in ERROR_STYLE and "#b00" not in INFO_STYLE
