"""CLI: ``biasbench datasets [NAME...]`` (alias ``doctor``): what is present under the data root, with the command
that fetches each missing dataset; ``biasbench fetch NAME...``: download, verify and lay out public datasets."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from biasbench.commands import register_commands
from biasbench.core.errors import BiasbenchError

console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)  # piped: no 80-column wrap
DataRootOpt = Annotated[Path | None, typer.Option(help="Data root (default: $BIASBENCH_DATA).")]


def datasets(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Only these datasets (default: all); folder:PATH checks your own image folder."),
    ] = None,
    data_root: DataRootOpt = None,
) -> None:
    """Known datasets and whether each is present under the data root (counts, layout, and the fetch command
    of a missing one)."""
    from biasbench.cli import out, table_of
    from biasbench.data.catalogue.doctor import dataset_status

    frame = dataset_status(data_root, names or ())
    out.print(table_of(frame, title=f"Datasets under {frame.attrs['root']}"))


def fetch(
    names: Annotated[list[str], typer.Argument(help="Datasets to download (`biasbench datasets` lists them).")],
    data_root: DataRootOpt = None,
    part: Annotated[
        list[str] | None,
        typer.Option(help="Only this archive of the dataset, e.g. --part noise for ImageNet-C (repeatable)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Extract again archives placed before (restores deleted files).")] = False,
    keep_archives: Annotated[bool, typer.Option(help="Keep the archives under <data root>/.downloads.")] = False,
) -> None:
    """Download, verify (published digests, else the one recorded at the first download), resume and safely
    extract public datasets into the layout biasbench reads. BIASBENCH_DOWNLOAD_MIRROR=URL uses a mirror."""
    from biasbench.data.catalogue.doctor import dataset_status
    from biasbench.data.catalogue.downloads import download_dataset, select_parts
    from biasbench.data.datasets import get_dataset_spec

    specs = [get_dataset_spec(n) for n in names]  # every name checked before anything is downloaded
    if part and len(specs) != 1:
        raise BiasbenchError("--part selects archives of one dataset: name exactly one dataset with it")
    if part:
        select_parts(specs[0], part)
    without = [s for s in specs if not s.downloads]
    if without:
        raise BiasbenchError(" ".join(f"dataset {s.name!r} has no public download: {s.obtain}" for s in without))
    failed = []
    for spec in specs:
        try:
            download_dataset(
                spec.name,
                data_root,
                parts=part or (),
                force=force,
                keep_archives=keep_archives,
                report=lambda m: console.print(m, highlight=False),
            )
        except BiasbenchError as e:
            failed.append(spec.name)
            console.print(f"[bold red]error:[/] {spec.name}: {e}", highlight=False)
    from biasbench.cli import out, table_of

    out.print(table_of(dataset_status(data_root, [s.name for s in specs])))
    if failed:
        raise typer.Exit(1)


@register_commands
def register(app: typer.Typer) -> None:
    app.command(name="datasets")(datasets)
    app.command(name="doctor", help="Same as `datasets`: what is present under the data root, what is missing.")(
        datasets
    )
    app.command(name="fetch")(fetch)
