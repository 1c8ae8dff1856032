"""CLI command plug-ins. Every module here exposes ``register(app: typer.Typer) -> None``; the
``biasbench`` command loads them all, so a feature adds its commands without touching cli.py."""

from __future__ import annotations

import importlib
import pkgutil

import typer


def register_all(app: typer.Typer) -> None:
    """Import every command module of this package and let it register its commands on ``app``."""
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{info.name}").register(app)
