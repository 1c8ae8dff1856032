"""CLI: ``biasbench zoo [NAME] [--fetch] [--where]``: a zoo's models, whether their weights are on disk,
downloading them ahead of a run, and where to place files by hand on machines without network."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from biasbench.commands import register_commands
from biasbench.core.errors import BiasbenchError

out = Console(width=None if sys.stdout.isatty() else 240)
err = Console(stderr=True)


def zoo(
    name: Annotated[str | None, typer.Argument(help="Zoo name (e.g. gavrikov2024) or path of a zoo TOML file.")] = None,
    fetch: Annotated[bool, typer.Option("--fetch", help="Download the zoo: checkpoints that are missing.")] = False,
    where: Annotated[bool, typer.Option("--where", help="Print URL and cache path of every zoo: file.")] = False,
    model: Annotated[list[str] | None, typer.Option("--model", help="Only these ids (repeatable).")] = None,
) -> None:
    """List a zoo's models with their training method and whether their weights are cached."""
    from biasbench.models.zoo import available_zoos, load_zoo
    from biasbench.models.zoo_source import describe_zoo, fetch_files, remote_files

    if name is None:
        for zoo_name in available_zoos():
            z = load_zoo(zoo_name)
            out.print(f"[bold]{zoo_name}[/] ({len(z.models)} models): {z.description}", highlight=False)
        return
    entries = [e for e in load_zoo(name).models if not model or e.id in model]
    remote = [e for e in entries if e.source.startswith("zoo:")]
    if where:
        for entry in remote:
            for f in remote_files(entry):
                out.print(f"{entry.id}\t{f.url}\t{f.path}\t{f.sha256 or '-'}", highlight=False, soft_wrap=True)
        return
    failures = []
    if fetch:
        for entry in remote:
            try:
                fetch_files(entry)
            except BiasbenchError as e:
                failures.append(str(e))
    frame = describe_zoo(name)
    if model:
        frame = frame[frame.id.isin(model)]
    table = Table(title=f"Zoo {load_zoo(name).name}")
    for column in frame.columns:
        table.add_column(column, overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*("?" if v is None else str(v) for v in row))
    out.print(table)
    for message in failures:
        err.print(f"[red]missing:[/] {message}", highlight=False)
    if failures:
        raise typer.Exit(1)


@register_commands
def register(app: typer.Typer) -> None:
    app.command(name="zoo")(zoo)
