"""CLI: ``biasbench reproduce gavrikov2024|gavrikov2025|layer-criticality`` and ``biasbench report DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

# The analysis commands read categories and pick jobs as the API does (one definition, in biasbench.api).
from biasbench.api import categories_for, selector_for  # noqa: F401  (imported from here by the other commands)
from biasbench.commands import register_commands

console = Console()

DataOpt = Annotated[
    Path | None, typer.Option("--data", help="Folder of the released files (default: $BIASBENCH_DATA/<name>).")
]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Write CSVs, figures (PNG+SVG) and report here.")]
BootOpt = Annotated[int, typer.Option("--n-boot", help="Bootstrap resamples for the 95% CIs (0 = none).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")]
PermOpt = Annotated[int, typer.Option("--n-perm", help="Permutations testing each joint-prediction R² (0 = none).")]
PreferOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--prefer",
        help="Which job to read when several measure the same thing for a model: \\[PROBE:]FIELD=VALUE with "
        "FIELD job, dataset, limit, limit_mode, probe_version, precision, seed or params.NAME (repeat), e.g. "
        "spectral:dataset=imagenet-val or accuracy:job=KEY. Default: newest probe version, full dataset, "
        "default parameters; anything else is an error naming the jobs.",
    ),
]


def print_matrix(frame: pd.DataFrame, title: str, digits: int = 2) -> None:
    """Print ``frame`` as a rich table: the index as the first column, numbers with ``digits`` decimals."""
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
    n_perm: PermOpt = 1000,
    reference: Annotated[
        str,
        typer.Option("--reference", help="Effective robustness: categories and/or models of the line (comma list)."),
    ] = "baseline,training_recipes",
) -> None:
    """Reproduce Gavrikov & Keuper (CVPR 2024) from the released benchmark.csv: masked Spearman tables
    (Total / AT / Other; p >= 0.05 shown as 0), bias-bias matrix, scatter rows and the HTML report; plus each
    model's effective robustness per OOD set and its correlation with every bias."""
    from biasbench.commands.effective_robustness import print_effective_robustness
    from biasbench.report.reproduce import reproduce_gavrikov2024

    result = reproduce_gavrikov2024(
        data, out, n_boot=n_boot, seed=seed, methods=method or ("spearman", "kendall", "pearson"), n_perm=n_perm,
        reference=reference,
    )  # fmt: skip
    for subset, matrix in result.tables.items():
        n = int(result.analysis.correlations.query("subset == @subset")["n"].max())
        print_matrix(matrix, f"Spearman rho, {subset} (n={n}; p >= 0.05 shown as 0)")
    print_matrix(result.bias_bias, "Bias-bias Spearman rho (all 48 models)")
    print_explained(result.analysis.explained, result.analysis.notes)
    if result.effective_robustness is not None:
        print_effective_robustness(result.effective_robustness)
    if out is not None:
        console.print(f"Wrote correlations.csv, figures and report.html to {out}")


def print_explained(e, notes: list[str]) -> None:
    """The joint-prediction tables of an ``Explained`` (R² and permutation p per score, feature set,
    regressor, scheme), or the notes saying why there is none."""
    from biasbench.analysis.explain import r2_table

    if e is None or e.summary.empty:
        console.print("No joint prediction: " + "; ".join(n for n in notes if n.startswith("explain")))
        return
    for scheme in ("lomo", "loco"):
        if scheme in set(e.summary["scheme"]):
            table = r2_table(e.summary, scheme).reset_index()
            table.columns = [str(c) for c in table.columns]
            print_text(
                table, f"Out-of-sample R² (permutation p), {scheme.upper()}, n={int(e.summary['n_models'].max())}"
            )


def print_text(frame: pd.DataFrame, title: str) -> None:
    """Print ``frame`` as a rich table of its values as text, right-aligned."""
    table = Table(title=title, show_lines=False)
    for column in frame.columns:
        table.add_column(str(column), justify="right")
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    console.print(table)


def layer_criticality(data: DataOpt = None, out: OutOpt = None, n_boot: BootOpt = 1000, seed: SeedOpt = 0) -> None:
    """Reproduce the layer-criticality study from the released results.csv: heat-map, per-category and
    per-stage averages, model-average criticality and its correlation with ImageNet accuracy."""
    from biasbench.report.reproduce import reproduce_layer_criticality

    result = reproduce_layer_criticality(data, out, n_boot=n_boot, seed=seed)
    print_matrix(result.per_category, "Criticality [%] per category and stage", 1)
    print_matrix(result.accuracy_correlation.set_index(["models", "method"]), "Average criticality vs top-1", 3)
    if out is not None:
        console.print(f"Wrote model_criticality.csv and figures to {out}")


def report(
    directory: Annotated[Path, typer.Argument(help="A biasbench results directory.")],
    out: Annotated[Path | None, typer.Option("--out", help="HTML file (default DIR/report.html).")] = None,
    categories: Annotated[
        Path | None,
        typer.Option("--categories", help="JSON {category: \\[model, ...]} for subsets (default: zoo categories)."),
    ] = None,
    context: Annotated[
        str | None,
        typer.Option(
            "--context",
            help="Place the models among a released study's models: gavrikov2024 (the 48 ResNet-50s of Gavrikov & "
            "Keuper, CVPR 2024; read from $BIASBENCH_DATA/biases-vs-generalization).",
        ),
    ] = None,
    n_boot: BootOpt = 1000,
    seed: SeedOpt = 0,
    prefer: PreferOpt = None,
) -> None:
    """Analyse a results directory into one self-contained HTML report (figures also as PNG + SVG)."""
    from biasbench.api import make_report

    result = make_report(directory, out, categories=categories, context=context, n_boot=n_boot, seed=seed,
                         prefer=prefer)  # fmt: skip
    for note in result.analysis.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    console.print(f"Wrote {result.path}")


@register_commands
def register(app: typer.Typer) -> None:
    """Add ``reproduce`` (a command group) and ``report`` to the ``biasbench`` app."""
    from biasbench.commands.vlm import gavrikov2025

    reproduce = typer.Typer(help="Reproduce published studies from their released data.", no_args_is_help=True)
    reproduce.command("gavrikov2024")(gavrikov2024)
    reproduce.command("gavrikov2025")(gavrikov2025)
    reproduce.command("layer-criticality")(layer_criticality)
    app.add_typer(reproduce, name="reproduce")
    app.command("report")(report)
