"""User-facing errors. The CLI prints their message without a traceback; each names the problem and the fix."""

from __future__ import annotations

import difflib
import errno
from collections.abc import Callable, Iterable


class BiasbenchError(Exception):
    """Base class for errors caused by input a user can fix."""


class BiasbenchWarning(UserWarning):
    """Something a user should know that does not stop the command (printed as a ``warning:`` line)."""


class UnknownNameError(BiasbenchError, KeyError):
    """A name (model source, model, probe, dataset, parameter) that is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str = ""):
        self.kind, self.name, self.known = kind, name, sorted(known)
        close = difflib.get_close_matches(name, self.known, n=3, cutoff=0.5)
        parts = [f"unknown {kind} {name!r}."]
        if close:
            parts.append(f"Did you mean {', '.join(repr(c) for c in close)}?")
        if len(self.known) > 40:  # a library's whole registry (timm's ~1300 models) helps no one
            parts.append(f"{len(self.known)} {kind}s are known.")
        else:
            parts.append(f"Known {kind}s: {', '.join(self.known)}." if self.known else f"No {kind}s are registered.")
        if hint:
            parts.append(hint)
        super().__init__(" ".join(parts))

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class ParameterError(BiasbenchError):
    """Options or parameters outside their declared types and ranges: one (option, what is wrong) per problem.

    ``prefix`` is put before each option name, e.g. ``--set shape-bias.`` for a probe parameter."""

    def __init__(self, problems: Iterable[tuple[str, str]], prefix: str = ""):
        self.problems = problems = list(problems)
        self.prefix = prefix
        where = prefix.rstrip(".")  # a problem of the whole set (a combination) belongs to the prefix itself
        lines = [
            f"{prefix}{name}: {what}" if name else f"{where}: {what}" if where else what for name, what in problems
        ]
        joined = "; ".join(lines)
        if len(problems) > 1:
            head = "invalid options: "
        else:  # one option, or a combination (a problem of the whole set, named by no single option)
            head = "invalid option " if problems and problems[0][0] else "invalid combination of options: "
        super().__init__(head + joined)

    def within(self, prefix: str) -> ParameterError:
        """The same problems with their option names under ``prefix`` (e.g. the probe they belong to)."""
        return ParameterError(self.problems, prefix + self.prefix)


class ModelLoadError(BiasbenchError):
    """A model spec that parses but cannot be loaded (missing weights, offline hub, bad checkpoint)."""


class HeadSizeError(BiasbenchError):
    """The model's output does not match the label space a probe needs."""


class DatasetError(BiasbenchError):
    """A dataset that is missing, incomplete or laid out differently than expected."""


class DecisionsError(BiasbenchError):
    """A per-image decisions file (a model's answers made elsewhere) that cannot be read as cue-conflict decisions."""


class MissingResultsError(BiasbenchError, FileNotFoundError):
    """A results directory that does not exist (also a FileNotFoundError, as it was before it had a class)."""

    def __str__(self) -> str:
        return str(self.args[0])


class CorruptImageError(DatasetError):
    """An image file that cannot be decoded, or whose pixels cannot be shown to a classifier (too small, too
    elongated, values without an 8-bit meaning)."""

    def __init__(self, path: str, reason: str):
        self.path = path
        super().__init__(
            f"cannot use image {path}: {reason}. Replace or remove the file, or pass "
            "--on-corrupt skip to leave it out (the number skipped is recorded)."
        )


def _path(e: OSError) -> str:
    return " -> ".join(str(p) for p in (e.filename, e.filename2) if p is not None) or "(no path given)"


# What an OSError means for a user and how to fix it, by its errno (the exception classes map onto these).
OS_ERRORS: dict[int, Callable[[OSError], str]] = {
    errno.EACCES: lambda e: f"permission denied: {_path(e)}. Give your user access (see `ls -l`), or use another path.",
    errno.EPERM: lambda e: f"operation not permitted: {_path(e)}. Check the owner and mode, or use another path.",
    errno.ENOENT: lambda e: f"no such file or directory: {_path(e)}. Check the path.",
    errno.EISDIR: lambda e: f"{_path(e)} is a directory where a file is expected; name a file.",
    errno.ENOTDIR: lambda e: f"a part of {_path(e)} is a file, not a directory; choose a path made of directories.",
    errno.ENOSPC: lambda e: f"no space left on the device writing {_path(e)}. Free space, or write to another disk.",
    errno.EDQUOT: lambda e: f"disk quota exceeded writing {_path(e)}. Free space, or write to another disk.",
    errno.EROFS: lambda e: f"{_path(e)} is on a read-only file system; write to another path.",
    errno.ENAMETOOLONG: lambda e: f"path too long: {_path(e)}; choose a shorter one.",
    errno.EMFILE: lambda e: "too many open files; raise the limit (`ulimit -n`) or use fewer --workers.",
}


def os_error_message(error: OSError) -> str:
    """An operating-system error as one line naming the path, the problem and the fix."""
    explain = OS_ERRORS.get(error.errno) if error.errno is not None else None
    return explain(error) if explain else f"{error.strerror or error}: {_path(error)}"


def user_message(error: BaseException) -> str | None:
    """The one-line message of an error a user can fix (biasbench's own, or the operating system's); None for
    anything else, which is a bug."""
    if isinstance(error, BiasbenchError):
        return str(error)
    if isinstance(error, OSError) and error.errno is not None:
        return os_error_message(error)
    return None
