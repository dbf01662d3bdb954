"""Download Kaggle datasets and competition files with the official `kaggle` client.

    from pconv.kaggle import download
    root = download("celebahq256")            # -> data/celebahq256/, extracted

What this adds to the client: short names (`DATASETS`), a credentials check before
the client is touched (it would print and `exit` otherwise), safe extraction of the
archive and of zips inside it (`pconv._archive`), idempotence (a `.pconv-complete`
marker; a second call asks nothing of Kaggle), atomic replacement (work in a hidden
sibling folder, rename at the end), bounded network timeouts, the data attached to
a Kaggle notebook under /kaggle/input, and errors that say what to do as
`KaggleError` subclasses, with every key and token removed from their messages.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from ._archive import ArchiveError, extract_nested, safe_extract
from ._kaggle_creds import (
    Credentials,
    KaggleCredentialsError,
    KaggleError,
    credentials_status,
    find_credentials,
    kaggle_input,
)
from .utils import data_dir

__all__ = [
    "download",
    "DATASETS",
    "COMPETITION_FILES",
    "MARKER",
    "credentials_status",
    "KaggleError",
    "KaggleCredentialsError",
    "KaggleAuthError",
    "KaggleRulesError",
    "KaggleNotFoundError",
    "KaggleNetworkError",
    "KaggleDiskFullError",
    "KaggleArchiveError",
]

log = logging.getLogger(__name__)

DATASETS: dict[str, str] = {
    "celeba": "jessicali9530/celeba-dataset",
    "celebahq256": "badasstechie/celebahq-resized-256x256",
    "places365": "benjaminkz/places365",
    "carvana": "carvana-image-masking-challenge",  # a competition: no owner in the slug
}
COMPETITION_FILES: dict[str, tuple[str, ...]] = {
    # the full Carvana download is ~25 GB; the training images and masks are all we use
    "carvana-image-masking-challenge": ("train.zip", "train_masks.zip"),
}
MARKER = ".pconv-complete"
TIMEOUT = (15.0, 120.0)  # (connect, read) seconds per request: the client itself would wait forever
MAX_RETRIES = 2  # a broken transfer is resumed this often (the client's default, 5, backs off for a minute)
_SLUG = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


KaggleError.__module__ = KaggleCredentialsError.__module__ = __name__  # defined in _kaggle_creds, public here


class KaggleAuthError(KaggleError):
    """Kaggle rejected the credentials (HTTP 401) or denied access (HTTP 403)."""


class KaggleRulesError(KaggleAuthError):
    """HTTP 403 on a competition: its rules have not been accepted on kaggle.com."""


class KaggleNotFoundError(KaggleError):
    """HTTP 404: no such dataset, competition or file."""


class KaggleNetworkError(KaggleError):
    """Kaggle could not be reached, did not answer in time, or the transfer broke off."""


class KaggleDiskFullError(KaggleError):
    """The disk filled up (ENOSPC) while downloading or extracting."""


class KaggleArchiveError(KaggleError):
    """The downloaded archive is corrupt or holds unsafe entries (zip-slip, absolute paths, symlinks)."""


def download(
    name_or_slug: str, dest: str | os.PathLike | None = None, *, competition: bool = False, force: bool = False
) -> Path:
    """Download and extract a Kaggle dataset or competition's files; return the folder.

    Args:
        name_or_slug: a short name from `DATASETS` ("celeba", "celebahq256", "places365",
            "carvana"), a dataset slug "owner/name", or a competition slug (with competition=True).
        dest: destination folder (default `data_dir() / <short name or slug name>`).
        competition: the slug names a competition (implied for short names without an owner).
        force: download again even if `dest` is complete; the old folder is replaced only
            once the new one is complete.

    Returns:
        The folder holding the extracted files (under /kaggle/input when running in a
        Kaggle notebook with the data attached).

    Raises:
        KaggleCredentialsError, KaggleAuthError, KaggleRulesError, KaggleNotFoundError,
        KaggleNetworkError, KaggleDiskFullError, KaggleArchiveError: each says what to do.
        ValueError: a malformed slug.
    """
    slug = DATASETS.get(name_or_slug, name_or_slug)
    competition = competition or (name_or_slug in DATASETS and "/" not in slug)
    if not _SLUG.fullmatch(slug) or (competition == ("/" in slug)):
        kind = "a competition slug without '/'" if competition else "'owner/dataset' (or competition=True)"
        raise ValueError(f"name_or_slug={name_or_slug!r}: expected one of {sorted(DATASETS)} or {kind}")
    name = name_or_slug if name_or_slug in DATASETS else slug.rsplit("/", 1)[-1]
    dest = Path(dest).expanduser() if dest is not None else data_dir() / name
    files = COMPETITION_FILES.get(slug, ()) if competition else ()
    if dest.parent.is_dir():
        _clean_leftovers(dest)
    if (dest / MARKER).is_file() and not force:
        return dest  # complete: no credentials needed, no request made

    attached = kaggle_input() / slug.rsplit("/", 1)[-1]
    zips = [attached / f for f in files]
    if attached.is_dir() and not force and not (zips and all(z.is_file() for z in zips)):
        log.info("using the data attached to this notebook at %s", attached)
        return attached
    if dest.is_dir() and any(dest.iterdir()) and not force:
        raise KaggleError(
            f"{dest} exists and is not empty, but holds no {MARKER} marker of a complete download. "
            f"Pass force=True to replace it (only once the new download is complete), pass another "
            f"dest, or, if it is complete, create the empty file {dest / MARKER}."
        )
    if attached.is_dir() and not force:  # attached zips: extract them, /kaggle/input is read-only
        return _install(dest, slug, lambda tmp: [safe_extract(z, tmp) for z in zips])

    creds = find_credentials()
    try:
        api = _client(creds)
        return _install(dest, slug, lambda tmp: _fetch(api, slug, competition, files, tmp))
    except KaggleError:
        raise
    except SystemExit:
        raise KaggleAuthError(
            f"Kaggle rejected the credentials from {creds.source}. Create a new API token at "
            "https://www.kaggle.com/settings/api and try again."
        ) from None
    except Exception as err:  # noqa: BLE001 -- translated into one clear, redacted error
        raise _translate(err, slug, competition, creds) from None


def _fetch(api, slug: str, competition: bool, files: tuple[str, ...], tmp: Path) -> None:
    """Let the client download `slug` into `tmp` (its own tqdm bar shows the progress)."""
    if not competition:
        api.dataset_download_files(slug, path=str(tmp), force=True, quiet=False)
    elif files:
        for f in files:
            api.competition_download_file(slug, f, path=str(tmp), force=True, quiet=False)
    else:
        api.competition_download_files(slug, path=str(tmp), force=True, quiet=False)
    for leftover in tmp.glob("*.kaggle-partial"):  # the client's resume bookkeeping
        leftover.unlink()


_OWNER = ".pconv-owner"  # pid of the process filling a hidden folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else (PermissionError)
    return True


def _clean_leftovers(dest: Path) -> None:
    """Tidy what a download killed mid-way left next to `dest` (a normal failure cleans up itself).

    A hidden `.NAME.partial-*` folder whose process is gone is deleted. A `.NAME.old-*`
    folder holds the previous data while it is being swapped for new data: if `dest` is
    missing, the previous data is put back; if `dest` is complete, it is deleted.
    """
    for tmp in dest.parent.glob(f".{dest.name}.partial-*"):
        try:
            pid = int((tmp / _OWNER).read_text())
        except (OSError, ValueError):
            pid = None  # killed before it wrote its owner: nothing in it yet
        if pid is None or not _alive(pid):
            log.info("removing %s, left by a download that was interrupted", tmp)
            shutil.rmtree(tmp, ignore_errors=True)
    for old in dest.parent.glob(f".{dest.name}.old-*"):
        previous = old / dest.name
        if previous.is_dir() and not dest.exists():
            previous.rename(dest)
            log.warning("restored %s from %s: a re-download was interrupted while swapping folders", dest, old)
        if (dest / MARKER).is_file() or not previous.exists():
            shutil.rmtree(old, ignore_errors=True)


def _install(dest: Path, slug: str, fill) -> Path:
    """Fill a hidden sibling of `dest` (`fill(tmp)`), extract nested zips, mark complete, swap in."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    (tmp / _OWNER).write_text(str(os.getpid()))
    old = None
    try:
        fill(tmp)
        (tmp / _OWNER).unlink()
        extract_nested(tmp)
        (tmp / MARKER).write_text(json.dumps({"slug": slug}) + "\n")
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            dest.rename(old / dest.name)
        try:
            tmp.rename(dest)
        except OSError:
            if old is not None:
                (old / dest.name).rename(dest)  # put the previous data back
                old = None
            raise
        return dest
    except ArchiveError as err:
        raise KaggleArchiveError(str(err)) from None
    except OSError as err:
        if err.errno != errno.ENOSPC:
            raise
        free = shutil.disk_usage(dest.parent).free / 1e9
        raise KaggleDiskFullError(
            f"no space left on the disk holding {dest.parent} ({free:.1f} GB free) while "
            f"downloading {slug}. Free some space or set PCONV_DATA_DIR (or dest=) "
            "to a larger disk."
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def _sandboxed_import():
    """Import `kaggle` without its import-time side effects on this process.

    `import kaggle` authenticates at once: with no credentials it prints a help page and
    calls exit (caught by the package), with a token it makes an unbounded network request.
    Here the import sees an empty home and no KAGGLE_* variables and prints to nowhere.
    """
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory() as home:
        os.environ.update(HOME=home, KAGGLE_CONFIG_DIR=home, XDG_CONFIG_HOME=home)
        for key in [
            k
            for k in os.environ
            if k.startswith("KAGGLE_") and k != "KAGGLE_CONFIG_DIR" or k in ("VERBOSE", "VERBOSE_OUTPUT")
        ]:
            del os.environ[key]
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                yield
        finally:
            os.environ.clear()
            os.environ.update(saved)


def _client(creds: Credentials):
    """An authenticated `KaggleApi` for `creds`, with bounded timeouts, reading the environment now."""
    if "kaggle.api.kaggle_api_extended" not in sys.modules:
        with _sandboxed_import():
            import kaggle.api.kaggle_api_extended  # noqa: F401
    import requests
    from kaggle.api.kaggle_api_extended import KaggleApi

    class _TimeoutAdapter(requests.adapters.HTTPAdapter):
        def send(self, request, timeout=None, **kwargs):
            return super().send(request, timeout=TIMEOUT if timeout is None else timeout, **kwargs)

    class _Api(KaggleApi):
        def build_kaggle_client(self):
            client = super().build_kaggle_client()
            http = client.http_client()
            if hasattr(http, "_init_session"):  # kagglesdk >= 0.1: one requests.Session per client
                http._init_session()
                for prefix in ("http://", "https://"):
                    http._session.mount(prefix, _TimeoutAdapter())
            return client

        def download_file(self, response, outfile, http_client, quiet=True, resume=False, **kwargs):
            kwargs.setdefault("max_retries", MAX_RETRIES)
            kwargs.setdefault("timeout", TIMEOUT[1])
            return super().download_file(response, outfile, http_client, quiet, resume, **kwargs)

    api = _Api()
    # The client reads these when it is imported; read them now instead, so that
    # KAGGLE_CONFIG_DIR and KAGGLE_API_ENVIRONMENT set after import still count.
    api.config_dir = str(creds.config_dir)
    api.config = str(creds.config_dir / "kaggle.json")
    api.args = ["--local"] if os.environ.get("KAGGLE_API_ENVIRONMENT") == "LOCALHOST" else []
    with contextlib.redirect_stdout(io.StringIO()):  # its permission warning and help page: ours are clearer
        api.authenticate()
    return api


def _translate(err: Exception, slug: str, competition: bool, creds: Credentials) -> KaggleError:
    """Map a client or network exception to a KaggleError with advice, the secrets redacted."""
    import requests

    page = f"https://www.kaggle.com/{'competitions' if competition else 'datasets'}/{slug}"
    status = getattr(getattr(err, "response", None), "status_code", None)
    detail = _redact(f"{type(err).__name__}: {err}", creds.secrets)
    if isinstance(err, requests.HTTPError) and status == 401:
        return KaggleAuthError(
            f"Kaggle rejected the credentials from {creds.source} (HTTP 401). Check the "
            "username and key, or create a new token at https://www.kaggle.com/settings/api."
        )
    if isinstance(err, requests.HTTPError) and status == 403 and competition:
        return KaggleRulesError(
            f"Kaggle denied access to the competition {slug!r} (HTTP 403): accept its rules "
            f"first, signed in as the account of your API token, at {page}/rules, then retry."
        )
    if isinstance(err, requests.HTTPError) and status == 403:
        return KaggleAuthError(
            f"Kaggle denied access to {slug!r} (HTTP 403). Open {page} signed in as the "
            "account of your API token and check that you may download it."
        )
    if isinstance(err, requests.HTTPError) and status == 404:
        return KaggleNotFoundError(
            f"{slug!r} was not found on Kaggle (HTTP 404). Check the slug at {page}"
            + ("" if competition else " (use competition=True for a competition)")
            + "."
        )
    if isinstance(err, requests.HTTPError):
        return KaggleError(f"Kaggle answered HTTP {status} for {slug!r}: {detail}")
    if isinstance(err, requests.Timeout):
        return KaggleNetworkError(f"Kaggle did not answer within {TIMEOUT[1]:g} s ({detail}). Retry later.")
    if isinstance(err, (requests.RequestException, ConnectionError)) or "does not match expected size" in str(err):
        return KaggleNetworkError(
            f"could not download {slug!r} from Kaggle: {detail}. Check the internet "
            "connection and any HTTP(S)_PROXY setting, then retry (nothing was kept)."
        )
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return KaggleDiskFullError(
            f"no space left on the disk while downloading {slug!r}. Free some space or "
            "set PCONV_DATA_DIR (or dest=) to a larger disk."
        )
    return KaggleError(f"downloading {slug!r} failed: {detail}")


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    """Replace each secret in `text` by '***'."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
