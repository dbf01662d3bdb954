"""A fake Kaggle API on 127.0.0.1 for testing `pconv.data.kaggle.download` with the real `kaggle` client, offline.

It speaks just enough of the kagglesdk protocol (kaggle 2.x): the client POSTs JSON
to `http://localhost/api/v1/<service>/<method>` when `KAGGLE_API_ENVIRONMENT=LOCALHOST`,
and `HTTP_PROXY` sends those requests here (the request line then holds the absolute
URL). Downloads answer 302 to `/blobs/...`, as Kaggle redirects to cloud storage.

    with FakeKaggle() as fake:
        fake.datasets["owner/name"] = make_zip({"a.txt": b"hi"})
        os.environ.update(fake.env())          # routing + credentials

For the notebook test, `notebook_server()` serves a small "celebahq256" set:

    with notebook_server() as fake:
        run_notebook("notebooks/01_data.ipynb", out, smoke=True, env={**fake.env(), "HOME": tmp})
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

USERNAME = "pconv-tester"
KEY = "k3y-0123456789abcdef-SECRET"
TOKEN = "KGAT_tok-fedcba9876543210-SECRET"
RULES_MESSAGE = "You must accept this competition's rules before you'll be able to download files."


def make_zip(entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    """A zip holding `entries` (name -> bytes; a name may be hostile) and optional symlink entries."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name), data)  # ZipInfo keeps the name exactly as given
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # S_IFLNK | 0o777
            zf.writestr(info, target)
    return buf.getvalue()


class FakeKaggle:
    """The fake server: fill `datasets` / `competitions`, read `requests` to count calls."""

    def __init__(self, username: str = USERNAME, key: str = KEY, token: str = TOKEN):
        self.username, self.key, self.token = username, key, token
        self.datasets: dict[str, bytes] = {}  # "owner/slug" -> zip bytes
        self.competitions: dict[str, dict[str, bytes]] = {}  # slug -> {file name: bytes}
        self.rules_accepted: set[str] = set()
        self.requests: list[tuple[str, str]] = []  # (method, path)
        self.auth_headers: list[str] = []
        self.truncate_blobs = False  # announce more bytes than are sent: a transfer that breaks off
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def env(self, credentials: bool = True) -> dict[str, str]:
        """Environment that routes the kaggle client here (and, by default, logs in as the tester)."""
        env = {
            "KAGGLE_API_ENVIRONMENT": "LOCALHOST",
            "HTTP_PROXY": self.url,
            "http_proxy": self.url,
            "HTTPS_PROXY": self.url,
            "https_proxy": self.url,
            "NO_PROXY": "",
            "no_proxy": "",
            "PCONV_DOWNLOAD": "1",
        }
        if credentials:
            env.update(KAGGLE_USERNAME=self.username, KAGGLE_KEY=self.key)
        return env

    def api_calls(self) -> list[str]:
        return [path for _, path in self.requests if path.startswith("/api/")]

    def __enter__(self) -> FakeKaggle:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- request handling -------------------------------------------------------------

    def authorized(self, header: str | None) -> bool:
        basic = "Basic " + base64.b64encode(f"{self.username}:{self.key}".encode()).decode()
        return header in (basic, f"Bearer {self.token}")

    def answer(self, method: str, path: str, body: dict, auth: str | None) -> tuple[int, dict, bytes]:
        """(status, headers, body) for one request."""
        if method == "GET" and path.startswith("/blobs/"):
            kind, _, rest = path[len("/blobs/") :].partition("/")
            if kind == "datasets" and rest in self.datasets:
                return 200, {"Content-Type": "application/zip"}, self.datasets[rest]
            comp, _, name = rest.partition("/")
            if kind == "competitions" and name in self.competitions.get(comp, {}):
                return 200, {"Content-Type": "application/zip"}, self.competitions[comp][name]
            return _error(404, "blob not found")
        if path == "/api/v1/security.OAuthService/IntrospectToken":
            active = body.get("token") == self.token
            return _json(200, {"active": active, "username": self.username if active else ""})
        if not self.authorized(auth):
            return _error(401, "Unauthenticated")
        if path == "/api/v1/datasets.DatasetApiService/DownloadDataset":
            slug = f"{body.get('ownerSlug')}/{body.get('datasetSlug')}"
            if slug not in self.datasets:
                return _error(404, f"Dataset {slug} not found")
            return 302, {"Location": f"/blobs/datasets/{slug}"}, b""
        if path.startswith("/api/v1/competitions.CompetitionApiService/DownloadDataFile"):
            comp = body.get("competitionName", "")
            if comp not in self.competitions:
                return _error(404, f"Competition {comp} not found")
            if comp not in self.rules_accepted:
                return _error(403, RULES_MESSAGE)
            if path.endswith("DownloadDataFiles"):
                self.competitions[comp].setdefault(f"{comp}.zip", make_zip(self.competitions[comp]))
                return 302, {"Location": f"/blobs/competitions/{comp}/{comp}.zip"}, b""
            name = body.get("fileName", "")
            if name not in self.competitions[comp]:
                return _error(404, f"File {name} not found")
            return 302, {"Location": f"/blobs/competitions/{comp}/{name}"}, b""
        return _error(404, f"unknown endpoint {path}")


def _json(status: int, obj: dict) -> tuple[int, dict, bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(obj).encode()


def _error(status: int, message: str) -> tuple[int, dict, bytes]:
    return _json(status, {"code": status, "message": message})  # Kaggle's error body


def _handler(fake: FakeKaggle) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            path = urlsplit(self.path).path  # via a proxy the request line holds the absolute URL
            fake.requests.append((method, path))
            fake.auth_headers.append(self.headers.get("Authorization") or "")
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw.strip().startswith(b"{") else {}
            status, headers, data = fake.answer(method, path, body, self.headers.get("Authorization"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            extra = 100 if fake.truncate_blobs and path.startswith("/blobs/") else 0
            self.send_header("Content-Length", str(len(data) + extra))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def log_message(self, *args) -> None:
            pass

    return Handler


def sample_celebahq_zip(n: int = 8, size: int = 64) -> bytes:
    """A tiny stand-in for badasstechie/celebahq-resized-256x256: JPEGs of smooth colour fields."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    entries = {}
    for i in range(n):
        yy, xx = np.mgrid[0:size, 0:size] / size
        rgb = np.stack([yy, xx, np.full_like(xx, rng.random())], -1) * 255
        buf = io.BytesIO()
        Image.fromarray(rgb.astype(np.uint8)).save(buf, format="JPEG")
        entries[f"celeba_hq_256/{i:05d}.jpg"] = buf.getvalue()
    return make_zip(entries)


@contextlib.contextmanager
def notebook_server():
    """A running FakeKaggle serving a tiny celebahq256 set; pass `fake.env()` to the notebook's kernel."""
    with FakeKaggle() as fake:
        fake.datasets["badasstechie/celebahq-resized-256x256"] = sample_celebahq_zip()
        yield fake
