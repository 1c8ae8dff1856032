"""The one top-level error handler of the ``biasbench`` command.

Every command runs inside it (``HandledGroup`` is the command group's class, so the console entry point and
``typer.testing.CliRunner`` take the same path). A user's error ends in one line naming the problem and the
fix, with exit status 2: biasbench's own errors (``BiasbenchError``) and the operating system's
(``OSError``: a permission, a missing path, a file where a folder belongs, a full disk ...). An interruption
says that finished jobs are kept (status 130). Anything else is a bug: its traceback is shown (status 1).
``--debug`` (anywhere on the command line) or ``BIASBENCH_DEBUG=1`` shows the traceback of every error.
biasbench's warnings (``BiasbenchWarning``, e.g. a damaged job left out) print as ``warning: ...`` lines.
"""

from __future__ import annotations

import os
import sys
import traceback
import warnings
from collections.abc import Callable
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text
from typer.core import TyperGroup

from biasbench.core.errors import BiasbenchWarning, user_message

DEBUG = "biasbench.debug"
DEBUG_FLAG = "--debug"
USER_ERROR, BUG, INTERRUPTED = 2, 1, 130

console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


def warning_printer(fallback: Callable) -> Callable:
    """A ``warnings.showwarning`` that prints biasbench's warnings as one ``warning:`` line each and passes
    every other warning to ``fallback``."""

    seen: set[str] = set()  # libraries reset the warnings registry as they go; say each thing once

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        if issubclass(category, BiasbenchWarning):
            if str(message) not in seen:
                seen.add(str(message))
                console.print(Text.assemble(("warning: ", "yellow"), str(message)), soft_wrap=True)
        else:
            fallback(message, category, filename, lineno, file, line)

    return show


def options(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option(DEBUG_FLAG, help="Show the traceback of every error (also after the command's name).")
    ] = False,
) -> None:
    """Measure the inductive biases of image classifiers and whether they explain generalization."""
    ctx.meta[DEBUG] = debug or os.environ.get("BIASBENCH_DEBUG", "") not in ("", "0")


def handle(error: BaseException, debug: bool) -> int:
    """Print ``error`` as its user message (or a traceback) and return the exit status."""
    if isinstance(error, KeyboardInterrupt):
        console.print("interrupted: finished jobs are kept; run the same command again to resume.", highlight=False)
        return INTERRUPTED
    message = user_message(error)
    if message is None or debug:
        console.print(Text("".join(traceback.format_exception(error))), soft_wrap=True)
    if message is None:
        console.print("This is a bug in biasbench; please report it with the traceback above.", highlight=False)
        return BUG
    console.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    return USER_ERROR


class HandledGroup(TyperGroup):
    """The command group every biasbench command runs in: user errors become one line (see module doc)."""

    def parse_args(self, ctx, args):
        if DEBUG_FLAG in args:  # given after a command's name: the group's option all the same
            args = [DEBUG_FLAG, *(a for a in args if a != DEBUG_FLAG)]
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        with warnings.catch_warnings():
            warnings.simplefilter("always", BiasbenchWarning)  # the printer says each distinct one once
            warnings.showwarning = warning_printer(warnings.showwarning)
            try:
                return super().invoke(ctx)
            except (typer.Exit, typer.Abort):
                raise
            except (Exception, KeyboardInterrupt) as e:
                if _is_click_exception(e):
                    raise
                raise typer.Exit(handle(e, ctx.meta.get(DEBUG, False))) from None


def _is_click_exception(error: BaseException) -> bool:
    """Usage errors and exits of the command-line parser, which it reports itself."""
    return any(cls.__module__.endswith("click.exceptions") for cls in type(error).__mro__)
