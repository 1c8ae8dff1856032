"""CLI: ``biasbench import decisions CSV`` (a vision-language model's per-image answers made elsewhere, as
shape-bias records)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from biasbench.commands.analysis import SeedOpt, console

DataRootOpt = Annotated[Path | None, typer.Option("--data-root", help="Data root (default: $BIASBENCH_DATA).")]


def print_table(frame: pd.DataFrame, title: str) -> None:
    """``frame`` (its index as the first column when named) as the CLI's wide rich table (``cli.table_of``)."""
    from biasbench.cli import out, table_of  # the app module is loaded by the time a command runs

    out.print(table_of(frame.reset_index() if frame.index.name else frame, title))


def _prompt_text(prompt: str | None, prompt_file: Path | None) -> str:
    if (prompt is None) == (prompt_file is None):
        console.print("[bold red]error:[/] give the prompt the model answered: --prompt TEXT or --prompt-file PATH")
        raise typer.Exit(2)
    if prompt_file is not None:
        if not prompt_file.is_file():
            console.print(f"[bold red]error:[/] no prompt file at {prompt_file}")
            raise typer.Exit(2)
        return prompt_file.read_text(encoding="utf-8").removesuffix("\n")
    return prompt


def decisions(
    csv: Annotated[
        Path, typer.Argument(help="Decisions CSV: image,pred_label[,pred_conf][,response], one row per stimulus.")
    ],
    model: Annotated[str, typer.Option("--model", "-m", help="Name of the model that answered (its name in results).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Results directory (created; shared with `biasbench run`).")],
    prompt: Annotated[str | None, typer.Option("--prompt", help="The prompt the model answered ('' for none).")] = None,
    prompt_file: Annotated[Path | None, typer.Option("--prompt-file", help="Read the prompt from this file.")] = None,
    data_root: DataRootOpt = None,
    seed: SeedOpt = 0,
    bootstrap_reps: Annotated[int, typer.Option("--bootstrap-reps", help="Resamples of the shape-bias CI.")] = 2000,
) -> None:
    """Import a model's per-image cue-conflict decisions made elsewhere (a VLM prompted on a GPU farm or through
    an API) as its shape-bias job: shape_bias with CI, top1, fractions, counts and the per-image decisions, with
    the prompt as a parameter of the job. Labels other than the 16 categories (or empty) are no decision."""
    from biasbench.api import import_decisions
    from biasbench.core.errors import BiasbenchError

    text = _prompt_text(prompt, prompt_file)
    try:
        result = import_decisions(
            csv, model, out, prompt=text, data_root=data_root, seed=seed, bootstrap_reps=bootstrap_reps
        )
    except BiasbenchError as e:
        console.print(f"[bold red]error:[/] {e}", highlight=False)
        raise typer.Exit(2) from None
    d = result.decisions
    if d.other_labels:
        shown = ", ".join(f"{label or '(empty)'!r} x{n}" for label, n in list(d.other_labels.items())[:8])
        console.print(f"[yellow]note:[/yellow] {d.n_no_decision} answers name no category (no decision): {shown}")
    if d.ignored_columns:
        console.print(f"[yellow]note:[/yellow] ignored columns {', '.join(d.ignored_columns)}")
    frame = result.records[["model", "metric", "value", "n", "ci_low", "ci_high"]]
    print_table(frame, f"{model} · shape-bias · cue-conflict (job {result.job.key})")
    state = "imported into" if result.imported else "already in (same file, prompt and settings);"
    console.print(f"{csv} {state} {out}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``import`` group (``import decisions``) to the ``biasbench`` app."""
    group = typer.Typer(help="Bring results made elsewhere into a results directory.", no_args_is_help=True)
    group.command("decisions")(decisions)
    app.add_typer(group, name="import")
