"""One registry mechanism for every name-keyed extension point: probes, datasets, label spaces, model sources,
corruptions, commands and the small tables beside them (archive layouts, checkpoint formats, zero-shot template
sets, ...).

A :class:`Registry` maps names to things. Things are added by a decorator in the module that defines them, and
the registry finds those modules itself on its first lookup: it imports every module of the packages it names
(recursively, in sorted order), then the modules installed distributions name under its entry-point group
(``[project.entry-points."biasbench.probes"]`` in a plug-in's ``pyproject.toml``). So a name resolves in a
fresh interpreter whatever was imported before, no module list is kept by hand, and adding a module to one of
those packages, or installing a plug-in, is all it takes. A missing name raises ``UnknownNameError``, which lists
the known names and suggests the closest.

Lookups during discovery (a module that reads the registry while it is being imported) see what is registered so
far instead of recursing.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar

from biasbench.core.errors import BiasbenchError, BiasbenchWarning, UnknownNameError

T = TypeVar("T")
F = TypeVar("F")

_UNLOADED, _LOADING, _LOADED = "unloaded", "loading", "loaded"


class RegistryError(BiasbenchError):
    """Two different things registered under one name (a plug-in shadowing a built-in, or a typo)."""


def package_modules(package: str) -> list[str]:
    """Every module of ``package`` and its subpackages (the package itself first), in sorted order; ``__main__``
    modules are left out (importing one would run it)."""
    root = importlib.import_module(package)
    names = [package]
    if hasattr(root, "__path__"):
        for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
            if not info.name.rsplit(".", 1)[-1].startswith("__"):
                names.append(info.name)
    return names


def definition_key(definition: Any) -> tuple[str, str] | None:
    """Where a class or function is defined (module, qualified name); None for other objects."""
    if isinstance(definition, type) or inspect.isfunction(definition):
        return definition.__module__, definition.__qualname__
    return None


class Registry(MutableMapping[str, T]):
    """Named things of one ``kind`` (the word error messages use: "probe", "dataset", ...).

    ``packages`` are the packages whose modules register into it, imported on the first lookup; ``group`` is the
    entry-point group third-party distributions use to add to it (each entry point names a module, or an object
    in one, whose import registers with the same decorator as the built-ins); ``items`` are entries given at
    construction (a fixed table); ``hint`` ends the unknown-name error (e.g. where to list them)."""

    def __init__(
        self,
        kind: str,
        *,
        packages: Sequence[str] = (),
        group: str | None = None,
        items: Mapping[str, T] | None = None,
        hint: str = "",
    ):
        self.kind, self.packages, self.group, self.hint = kind, tuple(packages), group, hint
        self._items: dict[str, T] = dict(items or {})
        self._definitions: dict[str, Any] = dict(self._items)
        self._state = _LOADED if not (self.packages or self.group) else _UNLOADED
        REGISTRIES.append(self)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, packages={self.packages!r}, group={self.group!r})"

    # ---- adding ------------------------------------------------------------------------------------------
    def register(self, name: str, item: T, definition: Any = None) -> T:
        """Add ``item`` under ``name`` and return it. ``definition`` is the class or function the decorator was
        given (default: ``item``). Another definition under a taken name is an error; the same one defined
        again (a module imported twice, e.g. reloaded) replaces the entry."""
        definition = item if definition is None else definition
        old = self._definitions.get(name)
        if name in self._items and old is not definition:
            same = definition_key(old) is not None and definition_key(old) == definition_key(definition)
            if not same:
                raise RegistryError(
                    f"two {self.kind}s are registered as {name!r}: {_origin(old)} and {_origin(definition)}; rename one"
                )
        self._items[name] = item
        self._definitions[name] = definition
        return item

    def decorator(self, name: str) -> Callable[[F], F]:
        """``@registry.decorator(name)``: register the decorated function or class itself under ``name``."""

        def wrap(item: F) -> F:
            self.register(name, item)  # type: ignore[arg-type]
            return item

        return wrap

    def __setitem__(self, name: str, item: T) -> None:  # an explicit replacement (tests, workers)
        self._items[name] = self._definitions[name] = item

    def __delitem__(self, name: str) -> None:
        del self._items[name], self._definitions[name]

    def registered(self) -> dict[str, T]:
        """What is registered so far, without discovering more (for checks made while registering)."""
        return dict(self._items)

    # ---- looking up --------------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> T:
        self.load()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._items, hint=self.hint) from None

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        self.load()
        return iter(list(self._items))

    def __len__(self) -> int:
        self.load()
        return len(self._items)

    # ---- discovery ---------------------------------------------------------------------------------------
    def load(self) -> None:
        """Import the registering modules of ``packages`` and of the ``group``'s entry points (once)."""
        if self._state != _UNLOADED:
            return
        self._state = _LOADING
        try:
            for package in self.packages:
                for module in package_modules(package):
                    importlib.import_module(module)
            for point in plugin_entry_points(self.group):
                load_plugin(point, self.group)
        except BaseException:
            self._state = _UNLOADED  # a failed import is raised again on the next lookup, not hidden
            raise
        self._state = _LOADED


REGISTRIES: list[Registry] = []
"""Every registry created, in creation order (the fresh-interpreter test resolves each one's names)."""


def _origin(definition: Any) -> str:
    key = definition_key(definition)
    return ".".join(key) if key else repr(definition)


def plugin_entry_points(group: str | None) -> list[EntryPoint]:
    """The entry points of ``group`` in installed distributions, sorted by name (none without a group)."""
    if group is None:
        return []
    return sorted(entry_points(group=group), key=lambda p: (p.name, p.value))


_LOADED_PLUGINS: set[str] = set()


def load_plugin(point: EntryPoint, group: str | None) -> None:
    """Import the module an entry point names (its decorators register); a plug-in that fails to import is
    reported as a warning naming it, and the built-ins stay usable."""
    if point.value in _LOADED_PLUGINS:
        return
    try:
        point.load()
    except Exception as e:  # a broken third-party package must not break every command
        dist = getattr(point.dist, "name", None) or "an installed package"
        warnings.warn(
            BiasbenchWarning(
                f"plug-in {point.name!r} = {point.value!r} of {group} (from {dist}) could not be loaded: "
                f"{type(e).__name__}: {e}. Fix or uninstall it; the built-in names still work."
            ),
            stacklevel=3,
        )
        return
    _LOADED_PLUGINS.add(point.value)
