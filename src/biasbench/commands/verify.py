"""CLI: ``biasbench verify DIR [--repair]``: check every job of a results directory against its manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from biasbench.commands import register_commands
from biasbench.core.errors import MissingResultsError

console = Console(stderr=True)


def verify(
    directory: Annotated[Path, typer.Argument(help="A results directory written by `biasbench run`.")],
    repair: Annotated[
        bool, typer.Option("--repair", help="Remove damaged jobs and incomplete files; the next run recomputes them.")
    ] = False,
) -> None:
    """Check every job's files against the sizes and sha256 digests in its manifest; list damaged jobs
    (by file) and incomplete files (shards without a manifest). Exit status 1 when damage is left."""
    from biasbench.store import ResultsStore

    if not directory.is_dir():
        raise MissingResultsError(f"no results directory at {directory}; run `biasbench run ... --out {directory}`")
    store = ResultsStore(directory)
    found = store.scan(deep=True)
    for damage in found.damaged.values():
        for item in damage:
            console.print(Text.assemble(("damaged ", "red"), f"job {item.key}: {item}"), soft_wrap=True)
    for path in found.incomplete:
        console.print(Text.assemble(("incomplete ", "yellow"), f"{path} (no manifest: a run stopped while writing)"))
    legacy = f", {len(found.legacy)} without digests (checked by structure)" if found.legacy else ""
    console.print(
        f"{len(found.intact)} intact job(s){legacy}, {len(found.damaged)} damaged, "
        f"{len(found.incomplete)} incomplete file(s) in {directory}",
        highlight=False,
    )
    if found.ok:
        return
    if not repair:
        console.print(f"run `biasbench verify {directory} --repair` to remove them; the next run recomputes those jobs")
        raise typer.Exit(1)
    removed = store.repair()
    console.print(f"removed {len(removed)} file(s); `biasbench run` with the same options recomputes the jobs")


@register_commands
def register(app: typer.Typer) -> None:
    """Add ``verify`` to the ``biasbench`` app."""
    app.command("verify")(verify)
