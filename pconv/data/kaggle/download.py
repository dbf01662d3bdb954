"""Download Kaggle datasets and competition files with the official `kaggle` client.

    from pconv.data.kaggle.download import download
    root = download("celebahq256")            # -> data/celebahq256/, extracted

The client downloads and finds the credentials. What this adds: short names
(`DATASETS`); a credentials check before anything is sent, and bounded network timeouts
(`pconv.data.kaggle.client`); safe extraction of the archive and of the zips inside it,
idempotence (a `.pconv-complete` marker: a second call asks nothing of Kaggle) and
atomic replacement (`pconv.data.kaggle.archive`); the data attached to a Kaggle notebook under
/kaggle/input; and errors that say what to do, one `KaggleError` subclass per failure,
with every key and token removed from their messages.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import io
import logging
import os
import re
import shutil
import warnings
from pathlib import Path

from pconv.data.kaggle.archive import MARKER, ArchiveError, clean_leftovers, install, safe_extract
from pconv.data.kaggle.client import Credentials, KaggleCredentialsError, KaggleError, find_credentials, new_api
from pconv.utils import WriteFailedError, data_dir, is_write_failure, user_path

__all__ = [
    "download",
    "DATASETS",
    "COMPETITION_FILES",
    "MARKER",
    "credentials_status",
    "KaggleAuthError",
    "KaggleRulesError",
    "KaggleNotFoundError",
    "KaggleNetworkError",
    "KaggleWriteError",
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
KAGGLE_INPUT = "/kaggle/input"  # where a Kaggle notebook mounts attached data; PCONV_KAGGLE_INPUT overrides
TIMEOUT = (15.0, 120.0)  # (connect, read) seconds per request: the client itself would wait forever
MAX_RETRIES = 2  # a broken transfer is resumed this often (the client's default, 5, backs off for a minute)
_SLUG = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


class KaggleAuthError(KaggleError):
    """Kaggle rejected the credentials (HTTP 401) or denied access (HTTP 403)."""


class KaggleRulesError(KaggleAuthError):
    """HTTP 403 on a competition: its rules have not been accepted on kaggle.com."""


class KaggleNotFoundError(KaggleError):
    """HTTP 404: no such dataset, competition or file."""


class KaggleNetworkError(KaggleError):
    """Kaggle could not be reached, did not answer in time, or the transfer broke off."""


class KaggleWriteError(KaggleError, WriteFailedError):
    """The download could not be written (full disk, quota, permissions); also a `pconv.utils.WriteFailedError`."""


class KaggleDiskFullError(KaggleWriteError):
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
    dest = user_path(dest) if dest is not None else user_path(data_dir() / name)
    files = COMPETITION_FILES.get(slug, ()) if competition else ()
    clean_leftovers(dest)
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
            f"Pass force=True (--force) to replace it (only once the new download is complete), pass another "
            f"dest, or, if it is complete, create the empty file {dest / MARKER}."
        )
    if attached.is_dir() and not force:  # attached zips: extract them here, /kaggle/input is read-only
        api = creds = None
    else:
        api = new_api(TIMEOUT, MAX_RETRIES)
        creds = find_credentials(api)
    try:
        return install(dest, functools.partial(_fetch, api, slug, competition, files, zips), {"slug": slug})
    except KaggleError:
        raise
    except SystemExit:  # the client's authenticate() found no credentials it accepts
        raise KaggleAuthError(
            f"Kaggle rejected the credentials from {creds.source}. Create a new API token at "
            "https://www.kaggle.com/settings/api and try again."
        ) from None
    except Exception as err:  # noqa: BLE001 -- translated into one clear, redacted error
        raise _translate(err, slug, competition, dest, creds) from None


def kaggle_input() -> Path:
    """The folder where a Kaggle notebook mounts attached datasets (`$PCONV_KAGGLE_INPUT` for tests)."""
    return Path(os.environ.get("PCONV_KAGGLE_INPUT") or KAGGLE_INPUT)


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
            creds = find_credentials(new_api(TIMEOUT, MAX_RETRIES))
    except KaggleCredentialsError as err:
        return f"Kaggle credentials: missing.\n{err}{notebook}"
    who = f" for user {creds.username!r}" if creds.username else ""
    lines = [f"Kaggle credentials: found in {creds.source}{who} (key hidden)."]
    lines += [f"Warning: {w.message}" for w in caught]
    return "\n".join(lines) + notebook


def _fetch(api, slug: str, competition: bool, files: tuple[str, ...], zips: list[Path], tmp: Path) -> None:
    """Fill `tmp`: extract the attached `zips` (api=None), or let the client download `slug` (its tqdm bar)."""
    if api is None:
        for z in zips:
            safe_extract(z, tmp)
        return
    with contextlib.redirect_stdout(io.StringIO()):  # its help page on failure: our error is clearer
        api.authenticate()
    if not competition:
        api.dataset_download_files(slug, path=str(tmp), force=True, quiet=False)
    elif files:
        for f in files:
            api.competition_download_file(slug, f, path=str(tmp), force=True, quiet=False)
    else:
        api.competition_download_files(slug, path=str(tmp), force=True, quiet=False)
    for leftover in tmp.glob("*.kaggle-partial"):  # the client's resume bookkeeping
        leftover.unlink()


def _translate(err: Exception, slug: str, competition: bool, dest: Path, creds: Credentials | None) -> KaggleError:
    """Map a client, network, archive or disk exception to a KaggleError with advice, the secrets redacted."""
    import requests

    page = f"https://www.kaggle.com/{'competitions' if competition else 'datasets'}/{slug}"
    status = getattr(getattr(err, "response", None), "status_code", None)
    detail = _redact(f"{type(err).__name__}: {err}", creds.secrets if creds else ())
    if isinstance(err, ArchiveError):
        return KaggleArchiveError(str(err))
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        free = shutil.disk_usage(dest.parent).free / 1e9
        return KaggleDiskFullError(
            f"no space left on the disk holding {dest.parent} ({free:.1f} GB free) while "
            f"downloading {slug!r}. Free some space or set PCONV_DATA_DIR (or dest=) to a larger disk."
        )
    if is_write_failure(err):  # permissions, a read-only disk: nothing was kept (`pconv.data.kaggle.archive.install`)
        return KaggleWriteError(
            f"could not write the download of {slug!r} next to {dest} ({detail}). Fix the folder's "
            "permissions, or set PCONV_DATA_DIR (or dest=) to a folder you can write."
        )
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
    return KaggleError(f"downloading {slug!r} failed: {detail}")


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    """Replace each secret in `text` by '***'."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
