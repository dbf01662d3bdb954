"""The local cache of the public checkpoints: where each file goes, whether the one there is valid, the download.

Each model has a folder, `data_dir()/pretrained/NAME/` (`PCONV_DATA_DIR`). Its file goes there
under the entry's published name; for an entry whose file name is not published (naoto's),
under any name ending in .pth or .pt, as the folder's only such file. A file is valid when
its SHA-256 starts with the published prefix, or, with no hash published, when it reads as a
checkpoint of the entry's layout and depth (`pconv.pretrained.files`). Nothing here deletes a
file the user may have put there (it may be their only copy of another model): a file that
is not valid is named for what it is (an HTML page, another model's file, a truncated
download) with what to do. Downloads go through `pconv.pretrained.download.fetch`, which
renames a file into the folder only once it passed the same checks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from pconv.pretrained.download import DownloadError, fetch, sha256_of
from pconv.pretrained.files import identify, read_weights, sniff
from pconv.pretrained.registry import PRETRAINED, PretrainedError, entry
from pconv.utils import data_dir

__all__ = ["CacheState", "cache_path", "cache_state", "cached", "download_pretrained", "folder"]

log = logging.getLogger(__name__)

SUFFIXES = (".pth", ".pt")
_verdicts: dict[tuple, str | None] = {}  # a file's check, by entry and (path, size, mtime): files are large


@dataclass(frozen=True)
class CacheState:
    """What a model's cache folder holds.

    `path` is the file (or, when there is none, where it goes; with several candidates, the
    folder); `present` whether a file is there; `problem` why it cannot be used, naming the
    file and what to do ("" when it is valid).
    """

    name: str
    path: Path
    present: bool
    problem: str

    @property
    def valid(self) -> bool:
        return self.present and not self.problem


def folder(name: str) -> Path:
    """The cache folder of `PRETRAINED[name]`: `data_dir()/pretrained/NAME`."""
    entry(name)
    return data_dir() / "pretrained" / name


def _where(name: str, move: bool = False) -> str:
    """Where a file of `name` must go, as an instruction: "put it at PATH" (or "move it to"; or into its folder)."""
    e = PRETRAINED[name]
    if e.name_published:
        return f"{'move it to' if move else 'put it at'} {folder(name) / e.filename}"
    return (
        f"{'move' if move else 'put'} it into {folder(name)}/ under any name ending in .pth or .pt "
        "(its file name is not published)"
    )


def _fix(name: str, downloaded_from: str | None) -> str:
    e = PRETRAINED[name]
    if downloaded_from is not None:
        return f"nothing was saved. Download it in a browser from {e.page} and {_where(name)}"
    return (
        f"delete it and run `python -m pconv pretrained download {name}`, or download the file in a browser "
        f"from {e.page} and {_where(name)}"
    )


def _whose(name: str, layout: str, layers: int, digest: str, fix: str) -> str:
    """A sentence on what a file that is not `name`'s holds instead, and where it belongs."""
    e = PRETRAINED[name]
    for other, o in PRETRAINED.items():
        if other != name and o.hash and digest.startswith(o.hash):
            return f"It is {other}'s file: {_where(other, move=True)} and load it as {other!r}"
    if layout == "pconv":
        return (
            "It is a checkpoint of a network trained with pconv: move it out of this folder and load it by its path "
            "(load_pretrained(PATH), `python -m pconv evaluate --checkpoint PATH`)"
        )
    if layout != e.source:
        others = [o for o, oe in PRETRAINED.items() if oe.source == layout]
        like = f", the layout of {' and '.join(others)}" if others else ""
        which = "the file of one of those models" if len(others) > 1 else "that model's file"
        return (
            f"It holds a network in {layout}'s layout (layers={layers}){like}, not {e.source}'s: if it is {which}, "
            "move it to that model's folder (`python -m pconv pretrained list` shows each path); a file of your own "
            "loads by its path (load_pretrained(PATH))"
        )
    if layers != e.layers:
        return f"It holds a layers={layers} network, and {name} is layers={e.layers}; {fix}"
    return (
        f"It holds a network in {name}'s layout, but not the published file (another version, or a damaged copy); {fix}"
    )


def _problem(name: str, path: Path, downloaded_from: str | None = None) -> str | None:
    """Why the file at `path` is not `name`'s (the whole message), None when it is.

    `downloaded_from`: the file is a download from that URL under a temporary name; its hash
    is then compared by `fetch`, after this.
    """
    e = PRETRAINED[name]
    label = str(path) if downloaded_from is None else f"the file downloaded from {downloaded_from}"
    fix = _fix(name, downloaded_from)
    what = sniff(path)
    if what is not None:
        return f"{label} is {what}; {fix}"
    if e.hash and downloaded_from is not None:
        return None
    digest = sha256_of(path) if e.hash else ""
    if e.hash and digest.startswith(e.hash):
        return None
    try:
        layout, layers = identify(read_weights(path, advice=fix))
    except PretrainedError as err:
        return str(err).replace(str(path), label)
    except ValueError as err:
        return f"{label} holds no partial-convolution network ({err}); {fix}"
    if not e.hash and layout == e.source and layers == e.layers:
        return None
    head = f"{label} is not {name}'s file"
    if e.hash:
        head += f": its SHA-256 is {digest}, and {name}'s starts with {e.hash}"
    if downloaded_from is not None:
        return f"{head}: it holds a network in {layout}'s layout with layers={layers}; {fix}"
    return f"{head}. {_whose(name, layout, layers, digest or sha256_of(path), fix)}"


def _key(name: str, path: Path) -> tuple:
    """What a check depends on: the file, the entry, and the registry's hashes (a file may be another's)."""
    stat, registry = path.stat(), tuple((n, e.source, e.layers, e.hash) for n, e in PRETRAINED.items())
    return (name, registry, str(path), stat.st_size, stat.st_mtime_ns)


def _checked(name: str, path: Path) -> str | None:
    key = _key(name, path)
    if key not in _verdicts:
        _verdicts[key] = _problem(name, path)
    return _verdicts[key]


def _candidates(name: str) -> list[Path]:
    """The files in `name`'s folder that could be its checkpoint (temporary downloads start with '.')."""
    d = folder(name)
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if p.suffix in SUFFIXES and not p.name.startswith(".") and p.is_file())


def cache_state(name: str) -> CacheState:
    """Whether `name`'s file is in the cache and valid (hash, or layout and depth); see the module header.

    Raises:
        PretrainedError: `name` is not in `PRETRAINED`.
    """
    e, d = entry(name), folder(name)
    download = f"run `python -m pconv pretrained download {name}`, or download its file and {_where(name)}"
    if e.name_published:
        path = d / e.filename
        others = [] if path.is_file() else _candidates(name)
        if not path.is_file() and not others:
            return CacheState(name, path, False, f"{path} is not there: {download}")
        if others:  # a file put there by hand under another name: named here, never guessed at
            shown = ", ".join(p.name for p in others)
            return CacheState(
                name,
                others[0] if len(others) == 1 else d,
                True,
                f"{d} holds {shown}, but {name}'s file must be named {e.filename}: if it is {name}'s file, rename "
                f"it to {path}; if not, move it away and {download}",
            )
    else:
        found = _candidates(name)
        if not found:
            return CacheState(name, d / e.filename, False, f"{d} holds no .pth or .pt file: {download}")
        if len(found) > 1:
            names = ", ".join(p.name for p in found)
            return CacheState(
                name, d, True, f"{d} holds {len(found)} checkpoint files ({names}): keep only {name}'s there"
            )
        path = found[0]
    return CacheState(name, path, True, _checked(name, path) or "")


def cache_path(name: str) -> Path:
    """Where the file of `PRETRAINED[name]` is, or goes: `data_dir()/pretrained/NAME/FILENAME`.

    For an entry whose file name is not published, the one .pth/.pt file in that folder when
    there is one, else the name the download uses.
    """
    e = entry(name)
    found = [] if e.name_published else _candidates(name)
    return found[0] if len(found) == 1 else folder(name) / e.filename


def cached() -> list[str]:
    """The names in `PRETRAINED` whose file is in the cache and valid (`cache_state(name).valid`)."""
    return [name for name in PRETRAINED if cache_state(name).valid]


def download_pretrained(name: str, *, progress: bool = True) -> Path:
    """The valid cached file of `PRETRAINED[name]`, downloaded (and checked) when none is there yet.

    Raises:
        PretrainedError: unknown name; a file in the cache that is not valid (kept; the message
            says what it is and what to do); no network or a failed download (the message names
            the model, the URL and where to put a file downloaded by hand); a download that is
            not the model's file: an HTML page, a wrong hash, another layout (nothing is saved).
    """
    state = cache_state(name)
    if state.valid:
        return state.path
    if state.present:
        raise PretrainedError(state.problem)
    e, dest = PRETRAINED[name], folder(name) / PRETRAINED[name].filename

    def check(staged: Path) -> None:
        problem = _problem(name, staged, downloaded_from=e.url)
        if problem is not None:
            raise PretrainedError(problem)

    try:
        digest = fetch(e.url, dest, sha256_prefix=e.hash, check=check, progress=progress)
    except DownloadError as err:
        raise PretrainedError(
            f"cannot download {name} from {e.url}: {err}. Without network, download that file elsewhere "
            f"(its page: {e.page}) and {_where(name)}; or pass the file's path instead of the name"
        ) from None
    _verdicts[_key(name, dest)] = None  # checked before it was renamed into place
    if not e.hash:
        log.warning("%s has no published SHA-256; the file downloaded to %s has SHA-256 %s", name, dest, digest)
    return dest
