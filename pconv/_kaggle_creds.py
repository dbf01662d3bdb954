"""Find Kaggle credentials the way the `kaggle` client does, without ever showing the key.

The client (kaggle >= 1.7 with kagglesdk) accepts, in this order: an API token in
`KAGGLE_API_TOKEN` (the token itself or a file holding it) or in
`~/.kaggle/access_token`; a legacy username and key from `KAGGLE_USERNAME` /
`KAGGLE_KEY`, which override `kaggle.json` in the config folder (`KAGGLE_CONFIG_DIR`,
else `~/.kaggle`, else `~/.config/kaggle`); OAuth credentials saved by
`kaggle auth login`. Checking this here first lets `pconv.kaggle` fail with one clear
message instead of the client's printed help page and `exit(1)`.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "KaggleError",
    "KaggleCredentialsError",
    "Credentials",
    "find_credentials",
    "credentials_status",
    "kaggle_input",
]

KAGGLE_INPUT = "/kaggle/input"  # where a Kaggle notebook mounts attached data; PCONV_KAGGLE_INPUT overrides

HOW_TO = (
    "Create an API token at https://www.kaggle.com/settings/api, then give it to pconv in one of three ways:\n"
    "  1. kaggle.json: copy kaggle.json.example from the repository to {config} (or to the folder named by "
    "KAGGLE_CONFIG_DIR), fill in your username and key, and run `chmod 600 {config}`;\n"
    "  2. environment variables: export KAGGLE_USERNAME=<username> and KAGGLE_KEY=<key>;\n"
    "  3. a new-style API token: export KAGGLE_API_TOKEN=<token> (or save it to ~/.kaggle/access_token).\n"
    "In a Kaggle notebook, attach the dataset instead (Add Input): it appears under /kaggle/input."
)


class KaggleError(RuntimeError):
    """Base class of every error raised by `pconv.kaggle`."""


class KaggleCredentialsError(KaggleError):
    """No usable Kaggle credentials were found: the message lists the ways to add them."""


@dataclass(frozen=True)
class Credentials:
    """Where the credentials come from; `secrets` only ever serves to redact messages."""

    source: str  # human-readable, e.g. "KAGGLE_USERNAME/KAGGLE_KEY" or "/home/me/.kaggle/kaggle.json"
    username: str | None
    config_dir: Path
    secrets: tuple[str, ...] = field(default=(), repr=False)


def kaggle_input() -> Path:
    """The folder where a Kaggle notebook mounts attached datasets (`$PCONV_KAGGLE_INPUT` for tests)."""
    return Path(os.environ.get("PCONV_KAGGLE_INPUT") or KAGGLE_INPUT)


def config_dir() -> Path:
    """The folder where the client looks for kaggle.json (same rule as the client)."""
    if os.environ.get("KAGGLE_CONFIG_DIR"):
        return Path(os.environ["KAGGLE_CONFIG_DIR"]).expanduser()
    legacy = Path("~/.kaggle").expanduser()
    if sys.platform.startswith("linux") and not legacy.exists():
        return Path(os.environ.get("XDG_CONFIG_HOME") or Path("~/.config").expanduser()) / "kaggle"
    return legacy


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _token() -> tuple[str, str] | None:
    """(token, source) from KAGGLE_API_TOKEN or ~/.kaggle/access_token[.txt], as the client reads them."""
    env = os.environ.get("KAGGLE_API_TOKEN")
    if env:
        path = Path(env).expanduser()
        if len(env) < 4096 and path.is_file():
            token = _read_text(path)
            return (token, f"the file named by KAGGLE_API_TOKEN ({path})") if token else None
        return env, "KAGGLE_API_TOKEN"
    for path in (Path("~/.kaggle/access_token").expanduser(), Path("~/.kaggle/access_token.txt").expanduser()):
        token = _read_text(path)
        if token:
            return token, str(path)
    return None


def _kaggle_json(path: Path) -> dict:
    """The parsed kaggle.json (empty if missing); warn when other users can read it."""
    if not path.is_file():
        return {}
    if os.name != "nt" and path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH):
        warnings.warn(
            f"{path} is readable by other users of this machine; protect your Kaggle key with `chmod 600 {path}`",
            UserWarning,
            stacklevel=4,
        )
    try:
        data = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        raise KaggleCredentialsError(
            f"{path} is not valid JSON; it should read "
            '{"username": "<username>", "key": "<key>"} (see kaggle.json.example)'
        ) from None
    if not isinstance(data, dict):
        raise KaggleCredentialsError(f"{path} should hold a JSON object with 'username' and 'key'")
    return data


def _secrets(*values: str | None, username: str | None = None) -> tuple[str, ...]:
    """The secrets plus their HTTP Basic-auth encoding `base64(username:secret)`."""
    out = [v for v in values if v]
    if username:
        out += [base64.b64encode(f"{username}:{v}".encode()).decode() for v in values if v]
    return tuple(out)


def find_credentials() -> Credentials:
    """Locate the credentials the client will use, without authenticating.

    Raises:
        KaggleCredentialsError: none found, or kaggle.json is malformed; the message lists
            the three ways to add them.
    """
    cfg = config_dir()
    path = cfg / "kaggle.json"
    data = _kaggle_json(path)
    username = os.environ.get("KAGGLE_USERNAME") or data.get("username")
    key = os.environ.get("KAGGLE_KEY") or data.get("key")
    token = _token()
    every = _secrets(key, token[0] if token else None, username=username)
    if token:
        return Credentials(token[1], username, cfg, every)
    if username and key:
        env = "KAGGLE_KEY" in os.environ and "KAGGLE_USERNAME" in os.environ
        return Credentials("KAGGLE_USERNAME/KAGGLE_KEY" if env else str(path), username, cfg, every)
    oauth = Path("~/.kaggle/credentials.json").expanduser()
    if oauth.is_file():
        try:
            saved = json.loads(_read_text(oauth) or "{}")
        except ValueError:
            saved = {}
        values = [v for v in saved.values() if isinstance(v, str)] if isinstance(saved, dict) else []
        return Credentials(f"{oauth} (kaggle auth login)", None, cfg, _secrets(*values))
    if username or key:
        missing = "KAGGLE_KEY (or 'key')" if username else "KAGGLE_USERNAME (or 'username')"
        raise KaggleCredentialsError(f"Kaggle credentials are incomplete: {missing} is missing.\n" + _how_to())
    raise KaggleCredentialsError("No Kaggle credentials found.\n" + _how_to())


def _how_to() -> str:
    """HOW_TO with the kaggle.json path the user should create."""
    env = os.environ.get("KAGGLE_CONFIG_DIR")
    return HOW_TO.format(config=Path(env).expanduser() / "kaggle.json" if env else "~/.kaggle/kaggle.json")


def credentials_status() -> str:
    """A few lines for a notebook: which credentials were found, or how to add them; never the key."""
    input_root = kaggle_input()
    notebook = (
        f"\nRunning in a Kaggle notebook: attached data under {input_root} is used directly."
        if input_root.is_dir()
        else ""
    )
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            creds = find_credentials()
    except KaggleCredentialsError as err:
        return f"Kaggle credentials: missing.\n{err}{notebook}"
    who = f" for user {creds.username!r}" if creds.username else ""
    lines = [f"Kaggle credentials: found in {creds.source}{who} (key hidden)."]
    lines += [f"Warning: {w.message}" for w in caught]
    return "\n".join(lines) + notebook
