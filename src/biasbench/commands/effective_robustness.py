"""CLI: ``biasbench effective-robustness DIR | --released``: each model's effective robustness per OOD set
(Taori et al., NeurIPS 2020) and the correlation of every bias with it, beside the partial correlations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from biasbench.commands import register_commands
from biasbench.commands.analysis import (
    BootOpt,
    DataOpt,
    PreferOpt,
    SeedOpt,
    categories_for,
    console,
    print_matrix,
    print_text,
    selector_for,
)

ReferenceOpt = Annotated[
    str,
    typer.Option(
        "--reference",
        help="Models whose line is fitted: categories and/or model ids, comma-separated "
        "(default: the study's standard training, baseline,training_recipes).",
    ),
]
TransformOpt = Annotated[str, typer.Option("--transform", help="Axis scaling of the fit: logit, probit or linear.")]


def _ci(value: float, low: float, high: float, digits: int = 2) -> str:
    return f"{value:.{digits}f}" if pd.isna(low) else f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _short(title: str) -> str:
    return title.removeprefix("ImageNet-")  # narrow terminals: "A", "R", "C-bar", ...


def print_effective_robustness(result, strongest: int = 10) -> None:
    """Print an ``EffectiveRobustness``: the lines, each model's ER per OOD set (reference models marked *),
    the bias correlations with ER beside the partial ones, the strongest of them, and warnings and notes."""
    if result.fits.empty:
        console.print("[yellow]No effective robustness:[/yellow] " + "; ".join(result.notes), highlight=False)
        return
    lines = pd.DataFrame(
        {
            "OOD set": result.fits["title"],
            "slope [95% CI]": [_ci(r.slope, r.slope_low, r.slope_high) for r in result.fits.itertuples()],
            "intercept [95% CI]": [
                _ci(r.intercept, r.intercept_low, r.intercept_high) for r in result.fits.itertuples()
            ],
            "n ref": result.fits["n_reference"],
            "ref. ID range [%]": [f"{r.id_low:.1f}-{r.id_high:.1f}" for r in result.fits.itertuples()],
            "stable": result.fits["stable"].map({True: "yes", False: "NO"}),
            "rho(ER, top-1)": result.fits["rho_er_id"].map("{:.2f}".format),
        }
    )
    print_text(lines, f"Lines through the reference models ({result.transform} axes)")
    values = result.values.rename(columns=lambda o: _short(result.title(o)))
    values.index = [f"{m} *" if m in result.reference else m for m in values.index]
    values.index.name = "model (* reference)"
    print_matrix(values, "Effective robustness (percentage points)", 1)
    table = result.side_by_side()
    if not table.empty:
        for suffix, what in (("er", "rho(bias, effective robustness)"), ("partial", "partial rho(bias, OOD | top-1)")):
            matrix = table.pivot(index="bias", columns="ood", values=f"rho_{suffix}")
            matrix = matrix.reindex(index=list(dict.fromkeys(table["bias"])), columns=list(result.values.columns))
            title = f"Spearman {what}, n={int(table[f'n_{suffix}'].max())}"
            print_matrix(matrix.rename(columns=lambda o: _short(result.title(o))), title)
        top = table.reindex(table["rho_er"].abs().sort_values(ascending=False).index).head(strongest)
        rows = pd.DataFrame(
            {
                "bias": top["bias"],
                "OOD set": top["ood"].map(result.title),
                "rho(ER) [95% CI]": [_ci(r.rho_er, r.ci_low_er, r.ci_high_er) for r in top.itertuples()],
                "p Holm": top["p_holm_er"].map("{:.2g}".format),
                "partial rho [95% CI]": [
                    _ci(r.rho_partial, r.ci_low_partial, r.ci_high_partial) for r in top.itertuples()
                ],
                "p Holm (partial)": top["p_holm_partial"].map("{:.2g}".format),
            }
        )
        print_text(rows, f"Strongest bias-effective-robustness correlations (top {len(rows)})")
    for warning in result.warnings:
        console.print(f"[red]warning:[/red] {warning}", highlight=False)
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)


def _released(data: Path | None):
    from biasbench.analysis.released import (
        CATEGORIES_FILE,
        GAVRIKOV2024,
        benchmark_records,
        read_categories,
        released_dir,
    )
    from biasbench.analysis.specs import PAPER_OOD_SETS

    folder = released_dir(GAVRIKOV2024, data, ("benchmark.csv", CATEGORIES_FILE))
    categories = read_categories(folder / CATEGORIES_FILE)
    return benchmark_records(folder / "benchmark.csv", categories.index), categories, None, PAPER_OOD_SETS


def _directory(directory: Path, categories: Path | None, prefer: list[str] | None):
    from biasbench.analysis.specs import OOD_SETS
    from biasbench.store import load_results

    records = load_results(directory)
    return records, categories_for(records, categories), selector_for(directory, prefer), OOD_SETS


def effective_robustness(
    directory: Annotated[Path | None, typer.Argument(help="A biasbench results directory.")] = None,
    released: Annotated[
        bool, typer.Option("--released", help="Analyse the released 48-model data of Gavrikov & Keuper (2024).")
    ] = False,
    data: DataOpt = None,
    reference: ReferenceOpt = "baseline,training_recipes",
    transform: TransformOpt = "logit",
    categories: Annotated[
        Path | None,
        typer.Option("--categories", help="JSON {category: [model, ...]} (default: zoo categories of the models)."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Folder for CSVs and figures (default: DIR/analysis).")
    ] = None,
    n_boot: BootOpt = 1000,
    seed: SeedOpt = 0,
    prefer: PreferOpt = None,
) -> None:
    """Effective robustness: OOD accuracy minus the prediction of the line that the reference models trace
    in logit-logit space against ImageNet top-1, per model and OOD set, with bootstrap CIs, a warning for
    lines the reference models do not determine, and every bias's Spearman correlation with it."""
    from biasbench.analysis.effective_robustness import effective_robustness as analyse
    from biasbench.report.sections.effective_robustness import write_effective_robustness

    if released == (directory is not None):
        console.print("[bold red]error:[/] give a results directory or --released (one of them)")
        raise typer.Exit(2)
    records, cats, selector, ood_sets = _released(data) if released else _directory(directory, categories, prefer)
    result = analyse(
        records, cats, reference=reference, ood_sets=ood_sets, transform=transform, n_boot=n_boot, seed=seed,
        selector=selector,
    )  # fmt: skip
    print_effective_robustness(result)
    folder = out or (None if released else Path(directory) / "analysis")
    if folder is not None:
        write_effective_robustness(result, folder)
        console.print(f"Wrote effective_robustness*.csv and figures/ to {folder}")


@register_commands
def register(app: typer.Typer) -> None:
    """Add ``effective-robustness`` to the ``biasbench`` app."""
    app.command("effective-robustness")(effective_robustness)
