"""CLI: ``biasbench contamination`` — the feature-contamination experiment (Zhang et al., ICML 2024)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from biasbench.commands import register_commands

# Piped output (logs, CI) gets wide tables instead of rich's 80-column default.
console = Console(width=None if sys.stdout.isatty() else 200)


def contamination(
    out: Annotated[Path, typer.Option("--out", "-o", help="Results directory (created; re-runs skip finished jobs).")],
    config: Annotated[
        list[str] | None,
        typer.Option("--config", "-c", help="Named config; repeat for several (default: default, linear, iid)."),
    ] = None,
    seeds: Annotated[int, typer.Option("--seeds", min=1, help="Seeds 0..N-1 per config.")] = 3,
    steps: Annotated[
        int | None, typer.Option("--steps", min=1, help="Training steps (default: the config's, 20000).")
    ] = None,
    distill: Annotated[bool, typer.Option("--distill/--no-distill", help="Run the teacher–student analogue.")] = True,
    distill_steps: Annotated[
        int | None, typer.Option("--distill-steps", min=1, help="Student steps (default 6000).")
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="Torch CPU threads (default: torch's).")
    ] = None,
    figures: Annotated[bool, typer.Option("--figures/--no-figures", help="Write figures to OUT/figures.")] = True,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars.")] = True,
    list_configs: Annotated[bool, typer.Option("--list", help="List the named configs and exit.")] = False,
) -> None:
    """Feature contamination on the structured-feature toy: ID vs OOD loss and accuracy and the first-layer
    projections on core and background features over training, plus the teacher–student analogue.
    Records go to OUT (probe `contamination`, dataset `synthetic`); see them with `biasbench results OUT`."""
    from biasbench.experiments.contamination import CONFIGS, run_contamination
    from biasbench.experiments.contamination.summary import distill_table, final_table, training_curves
    from biasbench.plots.contamination import plot_contamination

    if list_configs:
        console.print(_table(pd.DataFrame({"summary": {k: c.summary for k, c in CONFIGS.items()}}), "Configs"))
        return
    names = config or ["default", "linear", "iid"]
    records = run_contamination(
        names,
        seeds,
        out,
        steps=steps,
        distill=distill,
        distill_steps=distill_steps,
        threads=threads,
        progress=progress,
        report=lambda m: console.print(m, highlight=False, markup=False),
    )
    console.print(_table(final_table(records), "Feature contamination at the last step (mean over seeds)"))
    distilled = distill_table(records)
    if not distilled.empty:
        console.print(_table(distilled, "Teacher–student analogue (mean over seeds)"))
    if figures:
        written = plot_contamination(training_curves(records), distilled, out / "figures")
        console.print(f"Wrote {len(written)} figure files to {out / 'figures'}")


def _table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title)
    table.add_column(frame.index.name or "config")
    for column in frame.columns:
        table.add_column(str(column), justify="right")
    for name, *row in frame.itertuples():  # itertuples keeps each column's dtype (counts stay ints)
        table.add_row(str(name), *(_cell(v) for v in row))
    return table


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "–" if pd.isna(value) else f"{value:.3g}"
    return str(value)


@register_commands
def register(app: typer.Typer) -> None:
    """Add the ``contamination`` command to ``app``."""
    app.command("contamination")(contamination)
