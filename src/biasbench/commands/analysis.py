"""CLI: ``biasbench reproduce gavrikov2024|layer-criticality`` and ``biasbench report DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

console = Console()

DataOpt = Annotated[
    Path | None, typer.Option("--data", help="Folder of the released files (default: $BIASBENCH_DATA/<name>).")
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write CSVs, figures (PNG+SVG) and report here.")]
BootOpt = Annotated[int, typer.Option("--n-boot", help="Bootstrap resamples for the 95% CIs (0 = none).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")]


def _print_matrix(frame: pd.DataFrame, title: str, digits: int = 2) -> None:
    table = Table(title=title, show_lines=False)
    table.add_column(frame.index.name or "")
    for column in frame.columns:
        table.add_column(str(column), justify="right")
    for name, row in frame.iterrows():
        table.add_row(str(name), *("–" if pd.isna(v) else f"{v:.{digits}f}" for v in row))
    console.print(table)


def gavrikov2024(
    data: DataOpt = None,
    out: OutOpt = None,
    n_boot: BootOpt = 1000,
    seed: SeedOpt = 0,
    method: Annotated[
        list[str] | None, typer.Option("--method", help="spearman, kendall, pearson (repeat; default all).")
    ] = None,
) -> None:
    """Reproduce Gavrikov & Keuper (CVPR 2024) from the released benchmark.csv: masked Spearman tables
    (Total / AT / Other; p >= 0.05 shown as 0), bias-bias matrix, scatter rows and the HTML report."""
    from biasbench.analysis.reproduce import reproduce_gavrikov2024

    result = reproduce_gavrikov2024(
        data, out, n_boot=n_boot, seed=seed, methods=method or ("spearman", "kendall", "pearson")
    )
    for subset, matrix in result.tables.items():
        n = int(result.analysis.correlations.query("subset == @subset")["n"].max())
        _print_matrix(matrix, f"Spearman rho, {subset} (n={n}; p >= 0.05 shown as 0)")
    _print_matrix(result.bias_bias, "Bias-bias Spearman rho (all 48 models)")
    if out is not None:
        console.print(f"Wrote correlations.csv, figures and report.html to {out}")


def layer_criticality(data: DataOpt = None, out: OutOpt = None, n_boot: BootOpt = 1000, seed: SeedOpt = 0) -> None:
    """Reproduce the layer-criticality study from the released results.csv: heat-map, per-category and
    per-stage averages, model-average criticality and its correlation with ImageNet accuracy."""
    from biasbench.analysis.reproduce import reproduce_layer_criticality

    result = reproduce_layer_criticality(data, out, n_boot=n_boot, seed=seed)
    _print_matrix(result.per_category, "Criticality [%] per category and stage", 1)
    _print_matrix(result.accuracy_correlation.set_index(["models", "method"]), "Average criticality vs top-1", 3)
    if out is not None:
        console.print(f"Wrote model_criticality.csv and figures to {out}")


def report(
    directory: Annotated[Path, typer.Argument(help="A biasbench results directory.")],
    out: Annotated[Path | None, typer.Option("--out", help="HTML file (default DIR/report.html).")] = None,
    categories: Annotated[
        Path | None,
        typer.Option("--categories", help="JSON {category: [model, ...]} for subsets (default: zoo categories)."),
    ] = None,
    n_boot: BootOpt = 1000,
    seed: SeedOpt = 0,
    prefer: Annotated[
        list[str] | None,
        typer.Option(
            "--prefer",
            help="Which job to read when several measure the same thing for a model: [PROBE:]FIELD=VALUE with "
            "FIELD job, dataset, limit, probe_version, precision, seed or params.NAME (repeat), e.g. "
            "spectral:dataset=imagenet-val or accuracy:job=KEY. Default: newest probe version, full dataset, "
            "default parameters; anything else is an error naming the jobs.",
        ),
    ] = None,
) -> None:
    """Analyse a results directory into one self-contained HTML report (figures also as PNG + SVG)."""
    from biasbench.analysis.pipeline import analyse
    from biasbench.analysis.released import read_categories
    from biasbench.analysis.report import write_report
    from biasbench.analysis.selection import JobSelector, parse_preferences
    from biasbench.errors import BiasbenchError
    from biasbench.models.zoo import zoo_categories
    from biasbench.store import ResultsStore, load_results

    records = load_results(directory)
    if categories:
        cats = read_categories(categories)
    else:  # models named after zoo entries get their zoo category
        known = zoo_categories()
        cats = known[known.index.isin(records["model"])] if known.index.isin(records["model"]).any() else None
    try:
        selector = JobSelector(ResultsStore(directory).manifests_by_job(), parse_preferences(prefer or ()))
        analysis = analyse(records, cats, n_boot=n_boot, seed=seed, selector=selector)
    except BiasbenchError as e:
        console.print(f"[red]error:[/red] {e}", highlight=False)
        raise typer.Exit(1) from None
    path = write_report(analysis, out or Path(directory) / "report.html")
    for note in analysis.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    console.print(f"Wrote {path}")


def register(app: typer.Typer) -> None:
    """Add ``reproduce`` (a command group) and ``report`` to the ``biasbench`` app."""
    reproduce = typer.Typer(help="Reproduce published studies from their released data.", no_args_is_help=True)
    reproduce.command("gavrikov2024")(gavrikov2024)
    reproduce.command("layer-criticality")(layer_criticality)
    app.add_typer(reproduce, name="reproduce")
    app.command("report")(report)
