"""Helpers for the browser tests: a private JupyterLab, Debian's Chromium through Playwright, the kernel's word.

`jupyter_lab` starts JupyterLab on 127.0.0.1 (a free port, a random token, a temporary
root, its own settings, `--allow-root` when run as root, as in CI) with the notebooks'
environment, and stops it afterwards. `chromium_page` opens Debian's `/usr/bin/chromium`
(Playwright's own browser download cannot be fetched here). `Lab.execute` runs code in a
notebook's kernel over the server's websocket and returns what it printed, so a test can
ask the kernel what the page did (the same kernel the page drives, in the same order).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("PCONV_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parent.parent
# Screenshots: read at import, before the tests point PCONV_OUTPUT_DIR at their temporary folders.
SHOTS = Path(os.environ.get("PCONV_OUTPUT_DIR") or REPO / "outputs") / "browser"
INSTALL = "needs Debian's chromium (`apt-get install chromium`) and Playwright (`pip install -e .[browser]`)"
LAB_SETTINGS = {  # quiet and predictable: no news or update checks, every cell in the DOM
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def missing() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    try:
        import playwright.sync_api  # noqa: F401
        import websocket  # noqa: F401
    except ImportError as e:
        return f"{e.name} is not installed"
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        return f"no Chromium at {CHROMIUM}"
    return None


def require_browser_run(request: Any) -> None:
    """Skip unless pytest was asked for `-m browser` (`make test-browser`); fail when the browser is missing."""
    expr = request.config.option.markexpr or ""
    if "browser" not in expr or "not browser" in expr:
        pytest.skip(f"the browser tests are left out of `make test`: run them with `make test-browser` ({INSTALL})")
    why = missing()
    if why:
        pytest.fail(f"cannot run the browser tests: {why}; `make test-browser` {INSTALL}")


def lab_env(base: Path, smoke: bool = True) -> dict[str, str]:
    """The kernel's environment: outputs, data and torch's cache under `base`, inline figures, this checkout first."""
    env = {
        "PCONV_OUTPUT_DIR": str(base / "outputs"),
        "PCONV_DATA_DIR": str(base / "data"),
        "TORCH_HOME": str(base / "torch_home"),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p),
    }
    return {"PCONV_SMOKE": "1", **env} if smoke else env


def panel_notebook(src: Path, dst: Path, steps: int, by: str) -> None:
    """03 up to its training-panel cell, with `STEPS = steps` after the parameters cell (as papermill injects)."""
    nb = json.loads(src.read_text())
    cells = nb["cells"]
    params = next(i for i, c in enumerate(cells) if "parameters" in c.get("metadata", {}).get("tags", []))
    panel = next(
        i for i, c in enumerate(cells) if c["cell_type"] == "code" and "panel = training_panel(" in "".join(c["source"])
    )
    injected = {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {},
        "outputs": [],
        "source": [f"STEPS = {steps}  # injected by {by}"],
    }
    nb["cells"] = cells[: params + 1] + [injected] + cells[params + 1 : panel + 1]
    dst.write_text(json.dumps(nb))


def button_name(text: str) -> re.Pattern:
    """A button's accessible name: its description, give or take the icon's glyph and blanks before it."""
    return re.compile(rf"^\W*{text}\s*$")


def wait_for(condition: Any, what: str, timeout: float = 300, poll: float = 0.25) -> None:
    """Poll `condition()` until it is true; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


def _decode(frame: str | bytes) -> dict[str, Any]:
    """A kernel message from the server's websocket: JSON text, or the binary form with buffers (widgets send those).

    Binary frames are: n (uint32), n offsets (uint32), the JSON message from offsets[0], then the buffers.
    """
    if isinstance(frame, str):
        return json.loads(frame)
    (n,) = struct.unpack("!I", frame[:4])
    offsets = struct.unpack(f"!{n}I", frame[4 : 4 + 4 * n])
    return json.loads(frame[offsets[0] : offsets[1] if n > 1 else None])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A running JupyterLab: its URL, token and root folder; `execute` talks to a notebook's kernel."""

    def __init__(self, url: str, token: str, root: Path, log: Path):
        self.url, self.token, self.root, self.log = url, token, root, log

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}?token={self.token}", timeout=30) as r:
            return json.load(r)

    def notebook_url(self, name: str) -> str:
        """The notebook in a fresh workspace (`reset`): tabs of earlier pages must not come back."""
        return f"{self.url}/lab/tree/{name}?token={self.token}&reset"

    def kernel_id(self, notebook: str, timeout: float = 120) -> str:
        """The id of the kernel of the open notebook `notebook`, once its session exists."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for s in self.api("/api/sessions"):
                if s.get("path", "").endswith(notebook) and s.get("kernel"):
                    return s["kernel"]["id"]
            time.sleep(0.5)
        raise TimeoutError(f"no kernel session for {notebook} after {timeout} s; server log: {self.log}")

    def execute(self, kernel: str, code: str, timeout: float = 600) -> str:
        """Run `code` in the kernel (after whatever it is running now); return its stdout, raise on an error."""
        import websocket

        ws_url = self.url.replace("http", "ws", 1)
        ws = websocket.create_connection(
            f"{ws_url}/api/kernels/{kernel}/channels?token={self.token}&session_id={uuid.uuid4().hex}", timeout=timeout
        )
        msg_id = uuid.uuid4().hex
        header = {
            "msg_id": msg_id,
            "msg_type": "execute_request",
            "username": "test",
            "session": uuid.uuid4().hex,
            "version": "5.3",
        }
        content = {
            "code": code,
            "silent": False,
            "store_history": False,
            "user_expressions": {},
            "allow_stdin": False,
            "stop_on_error": False,
        }
        ws.send(
            json.dumps(
                {
                    "header": header,
                    "parent_header": {},
                    "metadata": {},
                    "content": content,
                    "channel": "shell",
                    "buffers": [],
                }
            )
        )
        out, error, idle, replied = [], None, False, False
        deadline = time.monotonic() + timeout
        try:
            while not (idle and replied):
                ws.settimeout(max(1.0, deadline - time.monotonic()))
                msg = _decode(ws.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue  # the page's own traffic
                kind = msg["header"]["msg_type"]
                if kind == "stream" and msg["content"]["name"] == "stdout":
                    out.append(msg["content"]["text"])
                elif kind == "error":
                    error = "\n".join(msg["content"]["traceback"])
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
                elif kind == "execute_reply":
                    replied = True
        finally:
            ws.close()
        if error:
            raise RuntimeError(f"kernel error running {code!r}:\n{error}")
        return "".join(out)

    def ask(self, kernel: str, expression: str, timeout: float = 600) -> Any:
        """The JSON value of `expression`, evaluated in the kernel."""
        text = self.execute(kernel, f"import json as _j; print(_j.dumps({expression}))", timeout)
        return json.loads(text.strip().splitlines()[-1])


@contextlib.contextmanager
def jupyter_lab(root: Path, env: dict[str, str], log: Path) -> Iterator[Lab]:
    """JupyterLab serving `root` on 127.0.0.1 with `env` added to its (and its kernels') environment."""
    port, token = _free_port(), uuid.uuid4().hex
    home = root.parent / "lab-home"
    for name, value in LAB_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    full_env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        **env,
    }
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
        "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    with open(log, "wb") as logfile:
        proc = subprocess.Popen(
            cmd, env=full_env, cwd=root, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True
        )
    lab = Lab(f"http://127.0.0.1:{port}", token, root, log)
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                lab.api("/api/status")
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"JupyterLab did not answer within 180 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield lab
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernels it started, nothing else
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


@contextlib.contextmanager
def chromium_page(width: int = 1500, height: int = 1100) -> Iterator[Any]:
    """A Playwright page in headless Chromium (Debian's build, sandbox off as root in CI)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.set_default_timeout(120_000)
            yield page
        finally:
            browser.close()


def notebook(page: Any) -> Any:
    """The notebook on show (other tabs stay in the DOM, hidden)."""
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")


def run_all_cells(page: Any, lab: Lab, name: str, timeout: float = 900) -> str:
    """Open the notebook `name`, run every cell from the menu, wait until the kernel has executed them all.

    Returns:
        The notebook's kernel id.

    Raises:
        AssertionError: a cell failed (the message has the page's error text).
    """
    page.goto(lab.notebook_url(name))
    panel = notebook(page)
    panel.locator(".jp-Cell").first.wait_for()
    kernel = lab.kernel_id(name)
    panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").wait_for(state="attached", timeout=180_000)
    n_code = panel.locator(".jp-CodeCell").count()
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").click()
    page.locator(".lm-Menu-itemLabel").get_by_text("Run All Cells", exact=True).click()
    deadline = time.monotonic() + timeout
    while True:
        done = lab.ask(kernel, "get_ipython().execution_count - 1", timeout=timeout)  # queued behind the cells
        errors = panel.locator(
            ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']", has_text="Traceback"
        )
        if done >= n_code:
            return kernel
        busy = panel.locator(".jp-InputPrompt", has_text="[*]").count()
        if (errors.count() and not busy) or time.monotonic() > deadline:
            raise AssertionError(f"{name}: {done} of {n_code} cells ran; page errors: {errors.all_inner_texts()[:2]}")
        time.sleep(1)
