"""CLI: ``biasbench ranking-bias DIR``: REFINED-BIAS's ranking-based shape bias beside the 16-class
cue-conflict ratio, per model, and their Spearman correlation across models."""

from __future__ import annotations

import typer

from biasbench.commands import register_commands
from biasbench.commands.analysis import BootOpt, PreferOpt, SeedOpt, console, print_matrix, selector_for
from biasbench.commands.factors import AnalysisOut, DirArg


def ranking_bias(
    directory: DirArg,
    out: AnalysisOut = None,
    n_boot: BootOpt = 1000,
    seed: SeedOpt = 0,
    prefer: PreferOpt = None,
) -> None:
    """REFINED-BIAS's ranking-based shape bias (mean reciprocal rank of the shape and of the texture class
    over all 1000 classes) beside the 16-class cue-conflict shape bias, and their Spearman correlation."""
    from biasbench.analysis.ranking_bias import ranking_bias_table, ranking_vs_ratio
    from biasbench.core.errors import BiasbenchError
    from biasbench.plots.figures import save
    from biasbench.plots.ranking_bias import ranking_vs_ratio_scatter
    from biasbench.store import load_results

    table = ranking_bias_table(load_results(directory), selector_for(directory, prefer))
    if table.empty:
        raise BiasbenchError(f"no shape-bias or refined-bias records in {directory}; run those probes first")
    print_matrix(table, "16-class shape bias and ranking-based (REFINED-BIAS) metrics", 3)
    correlations = ranking_vs_ratio(table, n_boot=n_boot, seed=seed)
    print_matrix(
        correlations.set_index("benchmark")[["rho", "ci_low", "ci_high", "p", "n"]].rename_axis("vs 16-class"),
        "Spearman rho of the 16-class shape bias with each ranking-based bias across models",
        3,
    )
    folder = out or directory / "analysis"
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "ranking_bias.csv")
    correlations.to_csv(folder / "ranking_bias_correlations.csv", index=False)
    written = "ranking_bias.csv, ranking_bias_correlations.csv"
    try:
        save(ranking_vs_ratio_scatter(table, correlations), folder, "ranking_vs_ratio")
        written += ", ranking_vs_ratio.png/.svg"
    except BiasbenchError as e:
        console.print(f"[yellow]note:[/yellow] {e}")
    console.print(f"Wrote {written} to {folder}")


@register_commands
def register(app: typer.Typer) -> None:
    """Add ``ranking-bias`` to the ``biasbench`` app."""
    app.command("ranking-bias")(ranking_bias)
