"""A second process that holds a run folder's lock: for the tests that check a run in use is refused."""

from __future__ import annotations

import os
import subprocess
import sys

HOLD = """
import sys
from pconv.train.run_folder import RunFolder
with RunFolder(sys.argv[1]).locked():
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until the test closes stdin or kills this process
"""


def hold_lock(folder: str | os.PathLike) -> subprocess.Popen:
    """Start a process that holds `folder`'s lock until its stdin is closed; returns once it holds it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc
