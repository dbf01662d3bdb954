"""Which errors `python -m pconv` reports as one line with exit status 2, and how that line reads.

`pconv.cli.parser.main` is the single place that catches them: the package's user-error types
(`user_errors`) and an OSError whose errno the user can fix (`FIXABLE_ERRNOS`: a full disk,
permissions, a read-only disk, a file where a folder belongs). Anything else is a bug and
keeps its traceback. The line is the message with its whitespace collapsed and the API's
spelling of a flag (`resume=True`) replaced by the flag a CLI user types (`--resume`).
"""

from __future__ import annotations

import errno
import re

from pconv.data import ImageLoadError, KaggleError, MaskSetError
from pconv.nn import VGGWeightsError
from pconv.pretrained import PretrainedError
from pconv.train import CheckpointError, ConfigError, RunExistsError, RunFolderError
from pconv.utils import WriteFailedError

__all__ = ["UsageError", "FIXABLE_ERRNOS", "user_errors", "is_user_error", "one_line"]


class UsageError(Exception):
    """A problem the user can fix (a path, a flag); printed as one line, exit status 2."""


# errno -> what to do; the OSErrors a user causes and can fix, whichever command meets them.
FIXABLE_ERRNOS = {
    errno.ENOSPC: "the disk is full: free some space, or write somewhere else",
    errno.EDQUOT: "your disk quota is used up: free some space, or write somewhere else",
    errno.EFBIG: "the file is too large for that disk: write somewhere else",
    errno.EROFS: "that disk is read-only: write somewhere else",
    errno.EACCES: "you may not use that path: fix its permissions, or pass another path",
    errno.EPERM: "you may not use that path: fix its permissions, or pass another path",
    errno.ENOTDIR: "a part of that path is a file, not a folder: pass another path",
}

# The keyword arguments that API messages name, and the flag each one is on the command line.
_API_FLAGS = re.compile(r"\b(resume|force|overwrite)=True(?: \(--(?:resume|force)\))?")
_FLAG_OF = {"resume": "--resume", "force": "--force", "overwrite": "--force"}


def user_errors() -> tuple[type[BaseException], ...]:
    """The package's exception types that mean "the user can fix this"."""
    return (
        UsageError,
        CheckpointError,
        RunExistsError,
        RunFolderError,
        KaggleError,
        ImageLoadError,
        PretrainedError,
        WriteFailedError,
        ConfigError,
        VGGWeightsError,
        MaskSetError,
    )


def is_user_error(e: BaseException) -> bool:
    """Whether `e` is one the CLI reports as one line with exit status 2 (else: a bug, with its traceback)."""
    return isinstance(e, user_errors()) or (isinstance(e, OSError) and e.errno in FIXABLE_ERRNOS)


def one_line(e: BaseException) -> str:
    """The message of a user error as one line, in the words of the command line.

    A `ConfigError` names its flag (`--batch-size`, not `TrainConfig.batch_size`); a bare
    OSError names its file, the reason and the fix.
    """
    if isinstance(e, ConfigError):
        text = f"argument --{e.field.replace('_', '-')}: expected {e.expected}, got {e.value!r} (see --help)"
    elif isinstance(e, OSError) and not isinstance(e, user_errors()) and e.errno in FIXABLE_ERRNOS:
        where = f"{e.filename}: " if e.filename is not None else ""
        text = f"{where}{e.strerror or e}; {FIXABLE_ERRNOS[e.errno]}"
    else:
        text = str(e) or type(e).__name__
    text = _API_FLAGS.sub(lambda m: _FLAG_OF[m[1]], text)
    return " ".join(text.split())
