"""The official `kaggle` client (>= 2.2, with kagglesdk), imported safely, and the credentials it will use.

The client finds the credentials itself; this module adds what it lacks:
- importing it has no side effects here (`import kaggle` authenticates at once: with no
  credentials it prints a help page and calls exit, with a token it makes a request that
  never times out);
- the credentials are located with the client's own readers before anything is sent
  (`read_config_file` / `read_config_environment` for kaggle.json and
  KAGGLE_USERNAME/KAGGLE_KEY, kagglesdk's `get_access_token_from_env` for the access
  token, `KaggleCredentials.load` for `kaggle auth login`), so that missing, half or
  malformed credentials are one clear `KaggleCredentialsError` instead of a printed page
  and `exit(1)`; a kaggle.json that others can read is a `UserWarning`;
- every request gets a connect and read timeout, a broken transfer a bounded number of retries.
`Credentials.secrets` lists every key and token (never shown in a repr) so that
`pconv.data.kaggle.download` can remove them from its messages.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import io
import json
import os
import stat
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

__all__ = [
    "KaggleError",
    "KaggleCredentialsError",
    "Credentials",
    "load_client",
    "new_api",
    "find_credentials",
]

HOW_TO = (
    "Create an API token at https://www.kaggle.com/settings/api, then give it to pconv in one of three ways:\n"
    "  1. kaggle.json: copy kaggle.json.example from the repository to {config} (or to the folder named by "
    "KAGGLE_CONFIG_DIR), fill in your username and key, and run `chmod 600 {config}`;\n"
    "  2. environment variables: export KAGGLE_USERNAME=<username> and KAGGLE_KEY=<key>;\n"
    "  3. a new-style API token: export KAGGLE_API_TOKEN=<token> (or save it to ~/.kaggle/access_token).\n"
    "In a Kaggle notebook, attach the dataset instead (Add Input): it appears under /kaggle/input."
)


class KaggleError(RuntimeError):
    """Base class of every error raised by `pconv.data.kaggle.download`."""


class KaggleCredentialsError(KaggleError):
    """No usable Kaggle credentials were found: the message lists the ways to add them."""


@dataclass(frozen=True)
class Credentials:
    """Where the credentials come from; `secrets` only ever serves to redact messages."""

    source: str  # human-readable, e.g. "KAGGLE_USERNAME/KAGGLE_KEY" or "/home/me/.kaggle/kaggle.json"
    username: str | None
    secrets: tuple[str, ...] = field(default=(), repr=False)


@contextlib.contextmanager
def _sandbox():
    """An empty home, no KAGGLE_* or VERBOSE variables, and output to nowhere, for `import kaggle`."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory() as home:
        os.environ.update(HOME=home, KAGGLE_CONFIG_DIR=home, XDG_CONFIG_HOME=home)
        for key in [k for k in os.environ if k.startswith("KAGGLE_") or k in ("VERBOSE", "VERBOSE_OUTPUT")]:
            if key != "KAGGLE_CONFIG_DIR":
                del os.environ[key]
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def load_client() -> ModuleType:
    """The client module `kaggle.api.kaggle_api_extended`, imported once in a sandbox (see the header)."""
    name = "kaggle.api.kaggle_api_extended"
    if name not in sys.modules:
        with _sandbox(), contextlib.suppress(SystemExit):  # before 2.2.5 it exits without credentials
            importlib.import_module(name)  # the exit comes after this module is complete
    return sys.modules[name]


def _config_dir() -> Path:
    """The folder of kaggle.json by the client's rule, which it evaluates only once, when imported."""
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        return Path(os.environ["KAGGLE_CONFIG_DIR"]).expanduser()
    legacy = Path("~/.kaggle").expanduser()
    if sys.platform.startswith("linux") and not legacy.exists():
        return Path(os.environ.get("XDG_CONFIG_HOME") or Path("~/.config").expanduser()) / "kaggle"
    return legacy


def new_api(timeout: tuple[float, float], max_retries: int):
    """A `KaggleApi` set up for the environment as it is now, not yet authenticated.

    Args:
        timeout: (connect, read) seconds for every request; the client itself would wait forever.
        max_retries: how often a broken transfer is resumed (the client's 5 back off for a minute).

    Returns:
        A `kaggle.api.kaggle_api_extended.KaggleApi`.
    """
    client = load_client()
    import requests

    default = tuple(timeout)

    class _TimeoutAdapter(requests.adapters.HTTPAdapter):
        def send(self, request, timeout=None, **kwargs):
            return super().send(request, timeout=default if timeout is None else timeout, **kwargs)

    class _Api(client.KaggleApi):
        def build_kaggle_client(self):
            kc = super().build_kaggle_client()
            http = kc.http_client()
            http._init_session()  # kagglesdk makes one requests.Session per client; give it our adapter
            for prefix in ("http://", "https://"):
                http._session.mount(prefix, _TimeoutAdapter())
            return kc

        def download_file(self, response, outfile, http_client, quiet=True, resume=False, **kwargs):
            kwargs.update(max_retries=max_retries, timeout=timeout[1])
            return super().download_file(response, outfile, http_client, quiet, resume, **kwargs)

    api = _Api()
    # The client reads these when it is imported (in the sandbox); read them now instead.
    api.config_dir = str(_config_dir())
    api.config = os.path.join(api.config_dir, api.config_file)
    api.args = ["--local"] if os.environ.get("KAGGLE_API_ENVIRONMENT") == "LOCALHOST" else []
    return api


_JSON_KINDS = {
    type(None): "null",
    bool: "true/false",
    int: "a number",
    float: "a number",
    list: "a list",
    dict: "an object",
}


def _check_kaggle_json(path: Path) -> None:
    """Warn when others can read `path`; raise when it is not a JSON object (the client ignores it then)."""
    if not path.is_file():
        return
    if os.name != "nt" and path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.warn(
            f"{path} is readable by other users of this machine; protect your Kaggle key with `chmod 600 {path}`",
            UserWarning,
            stacklevel=4,  # the caller of download()
        )
    try:
        data = json.loads(path.read_text() or "{}")
    except OSError as err:
        raise KaggleCredentialsError(f"{path} cannot be read ({err.strerror}); check its permissions") from None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise KaggleCredentialsError(
            f"{path} is not valid JSON; it should read "
            '{"username": "<username>", "key": "<key>"} (see kaggle.json.example)'
        )
    for name in ("username", "key"):  # a number, list or null would reach the client as a TypeError
        value = data.get(name, "")
        if not isinstance(value, str) or (name in data and not value.strip()):
            kind = "empty" if isinstance(value, str) else _JSON_KINDS.get(type(value), "not text")  # never the key
            raise KaggleCredentialsError(
                f"{path}: the field {name!r} is {kind}; it must be a non-empty text in quotes, as in "
                '{"username": "<username>", "key": "<key>"} (see kaggle.json.example)'
            )


def _secrets(*values: str | None, username: str | None = None) -> tuple[str, ...]:
    """The secrets plus their HTTP Basic-auth encoding `base64(username:secret)`."""
    out = [v for v in values if v]
    if username:
        out += [base64.b64encode(f"{username}:{v}".encode()).decode() for v in values if v]
    return tuple(out)


def find_credentials(api) -> Credentials:
    """Locate the credentials `api.authenticate()` will use, in its order, without sending anything.

    Args:
        api: from `new_api`.

    Raises:
        KaggleCredentialsError: none found, half a username/key pair, or a malformed
            kaggle.json; the message lists the three ways to add them.
    """
    client = load_client()  # its names from kagglesdk are the ones its authenticate() calls
    path = Path(api.config)
    _check_kaggle_json(path)
    with contextlib.redirect_stdout(io.StringIO()):  # its own permission warning: ours is a UserWarning
        values = api.read_config_environment(api.read_config_file(quiet=True))
    username, key = values.get("username"), values.get("key")
    token, token_source = client.get_access_token_from_env()
    try:
        oauth = client.KaggleCredentials.load(client=None)  # `kaggle auth login`; None without the file
    except (ValueError, TypeError, AttributeError):  # corrupt: the client would fail on it too
        oauth = None
    saved = [v for k, v in vars(oauth).items() if k.endswith("token") and isinstance(v, str)] if oauth else []
    secrets = _secrets(key, token, *saved, username=username)
    if token:
        if token_source == "access_token":  # kagglesdk's name for ~/.kaggle/access_token[.txt]
            files = [Path(f"~/.kaggle/access_token{ext}").expanduser() for ext in ("", ".txt")]
            token_source = str(next((p for p in files if p.is_file() and p.stat().st_size), files[1]))
        return Credentials(token_source, username, secrets)
    if username and key:
        env = "KAGGLE_KEY" in os.environ and "KAGGLE_USERNAME" in os.environ
        return Credentials("KAGGLE_USERNAME/KAGGLE_KEY" if env else str(path), username, secrets)
    if oauth:
        return Credentials(f"{client.KaggleCredentials.DEFAULT_CREDENTIALS_FILE} (kaggle auth login)", None, secrets)
    config = Path(os.environ["KAGGLE_CONFIG_DIR"]).expanduser() if os.environ.get("KAGGLE_CONFIG_DIR") else None
    how_to = HOW_TO.format(config=config / "kaggle.json" if config else "~/.kaggle/kaggle.json")
    if username or key:
        missing = "KAGGLE_KEY (or 'key')" if username else "KAGGLE_USERNAME (or 'username')"
        raise KaggleCredentialsError(f"Kaggle credentials are incomplete: {missing} is missing.\n" + how_to)
    raise KaggleCredentialsError("No Kaggle credentials found.\n" + how_to)
