"""Lookup in the experiment's name registries with a user-facing error for unknown names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from biasbench.core.errors import UnknownNameError

T = TypeVar("T")


def lookup(registry: Mapping[str, T], name: str, kind: str) -> T:
    """``registry[name]``, or an :class:`UnknownNameError` that lists the known names of this ``kind``."""
    if name not in registry:
        raise UnknownNameError(kind, name, registry)
    return registry[name]
