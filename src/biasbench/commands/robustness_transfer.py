"""CLI: ``biasbench robustness-transfer DIR`` — Djolonga et al. (2021)'s analysis of a results directory:
Spearman matrix over ImageNet top-1, robustness metrics and transfer, and the residual analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from biasbench.commands import register_commands
from biasbench.commands.analysis import PreferOpt, print_matrix, selector_for

console = Console()


def robustness_transfer(
    directory: Annotated[Path, typer.Argument(help="A biasbench results directory with transfer records.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write meta_table.csv, spearman.csv, residual.csv.")] = None,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap resamples for the 95% CIs (0 = none).")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    method: Annotated[str, typer.Option("--method", help="Transfer records to read: linear or finetune.")] = "linear",
    prefer: PreferOpt = None,
) -> None:
    """Spearman rho across models between ImageNet top-1, every robustness metric and transfer (task and group
    means), and rho(mean robustness − ImageNet top-1, transfer) with its OLS-residual variant."""
    from biasbench.analysis.robustness_transfer import meta_table, residual_table, rho_matrix, spearman_matrix
    from biasbench.analysis.scores import SCORE_MEASUREMENT, normalise_records
    from biasbench.core.errors import BiasbenchError
    from biasbench.store import load_results

    # one job per model and measurement, as every analysis reads them
    records = selector_for(directory, prefer).select(normalise_records(load_results(directory)), SCORE_MEASUREMENT)
    table = meta_table(records, method=method)
    if table.empty:
        raise BiasbenchError(f"no ImageNet, robustness or transfer records in {directory}; run those probes first")
    print_matrix(table, f"Per-model values ({len(table)} models)", 3)
    pairs = spearman_matrix(table, n_boot=n_boot, seed=seed)
    print_matrix(rho_matrix(pairs, table.columns), "Spearman rho across models")
    residual = residual_table(table, n_boot=n_boot, seed=seed)
    if residual.empty:
        console.print("[yellow]residual analysis needs ImageNet top-1, a robustness metric and transfer[/yellow]")
    else:
        print_matrix(residual.set_index(["residual", "transfer"]), "Residual robustness vs transfer (Spearman)", 3)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "meta_table.csv")
        pairs.to_csv(out / "spearman.csv", index=False)
        residual.to_csv(out / "residual.csv", index=False)
        console.print(f"Wrote meta_table.csv, spearman.csv and residual.csv to {out}")


@register_commands
def register(app: typer.Typer) -> None:
    """Add ``robustness-transfer`` to the ``biasbench`` app."""
    app.command("robustness-transfer")(robustness_transfer)
