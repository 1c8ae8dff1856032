"""User-facing errors. The CLI prints their message without a traceback; each names the problem and the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class BiasbenchError(Exception):
    """Base class for errors caused by input a user can fix."""


class UnknownNameError(BiasbenchError, KeyError):
    """A name (model source, model, probe, dataset, parameter) that is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str = ""):
        self.kind, self.name, self.known = kind, name, sorted(known)
        close = difflib.get_close_matches(name, self.known, n=3, cutoff=0.5)
        parts = [f"unknown {kind} {name!r}."]
        if close:
            parts.append(f"Did you mean {', '.join(repr(c) for c in close)}?")
        shown = ", ".join(self.known[:40]) + (" ..." if len(self.known) > 40 else "")
        parts.append(f"Known {kind}s: {shown}." if self.known else f"No {kind}s are registered.")
        if hint:
            parts.append(hint)
        super().__init__(" ".join(parts))

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class ModelLoadError(BiasbenchError):
    """A model spec that parses but cannot be loaded (missing weights, offline hub, bad checkpoint)."""


class HeadSizeError(BiasbenchError):
    """The model's output does not match the label space a probe needs."""


class DatasetError(BiasbenchError):
    """A dataset that is missing, incomplete or laid out differently than expected."""


class DecisionsError(BiasbenchError):
    """A per-image decisions file (a model's answers made elsewhere) that cannot be read as cue-conflict decisions."""


class CorruptImageError(DatasetError):
    """An image file that cannot be decoded."""

    def __init__(self, path: str, reason: str):
        self.path = path
        super().__init__(
            f"cannot decode image {path}: {reason}. Replace or remove the file, or pass "
            "--on-corrupt skip to leave it out (the number skipped is recorded)."
        )
