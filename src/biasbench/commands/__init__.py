"""CLI command plug-ins. Every module here registers one function with ``@register_commands``; it receives the
``biasbench`` Typer app and adds its commands to it. The command registry (``COMMANDS``) imports the modules of
this package and of the ``biasbench.commands`` entry points on its first lookup, so a feature (or a plug-in) adds
its commands without touching cli.py."""

from __future__ import annotations

from collections.abc import Callable

import typer

from biasbench.core.registry import Registry

Installer = Callable[[typer.Typer], None]
COMMANDS: Registry[Installer] = Registry("command module", packages=("biasbench.commands",), group="biasbench.commands")
"""Each command module's installer, keyed by its module name."""


def register_commands(install: Installer) -> Installer:
    """Decorator registering ``install(app)``, which adds a module's commands to the ``biasbench`` app."""
    return COMMANDS.decorator(install.__module__)(install)


def register_all(app: typer.Typer) -> None:
    """Add every registered module's commands to ``app`` (in module-name order)."""
    for _, install in sorted(COMMANDS.items()):
        install(app)
