"""CLI: ``biasbench factors DIR``: ImageNet-X error ratios per factor from the stored predictions on ImageNet
val, and their correlation with the biases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from biasbench.commands import register_commands
from biasbench.commands.analysis import BootOpt, PreferOpt, SeedOpt, categories_for, console, print_matrix, selector_for

DirArg = Annotated[Path, typer.Argument(help="A biasbench results directory.")]
AnalysisOut = Annotated[Path | None, typer.Option("--out", help="Folder for CSVs and figures (default DIR/analysis).")]


def factors(
    directory: DirArg,
    dataset: Annotated[
        str, typer.Option(help="Dataset whose stored predictions are read (ImageNet val images, 1000-way).")
    ] = "imagenet-val",
    probe: Annotated[str, typer.Option(help="Probe whose per-sample top-1 predictions are read.")] = "accuracy",
    which: Annotated[
        str, typer.Option("--factors", help="ImageNet-X annotation: top (one main factor per image) or multi.")
    ] = "top",
    keep_prototypes: Annotated[
        bool, typer.Option(help="Keep ImageNet-X's 3,000 prototypical images (the package drops them).")
    ] = False,
    categories: Annotated[
        Path | None, typer.Option(help="JSON {category: [model, ...]} for the AT / other subsets.")
    ] = None,
    out: AnalysisOut = None,
    n_boot: BootOpt = 1000,
    seed: SeedOpt = 0,
    prefer: PreferOpt = None,
) -> None:
    """ImageNet-X (Idrissi et al., ICLR 2023) error ratio per factor of variation: the error rate on images
    annotated with the factor over the overall error rate, from the stored predictions on ImageNet val (no
    model is re-run); then the Spearman correlation of each bias with each factor's error ratio."""
    from biasbench.analysis.correlation import wide
    from biasbench.analysis.failure_factors import analyse_failure_factors
    from biasbench.plots.failure_factors import bias_factor_heatmap, factor_ratio_heatmap
    from biasbench.plots.figures import save
    from biasbench.store import load_results

    cats = categories_for(load_results(directory), categories)
    result = analyse_failure_factors(
        directory, dataset=dataset, probe=probe, factors=which, filter_prototypes=not keep_prototypes,
        selector=selector_for(directory, prefer), categories=cats, n_boot=n_boot, seed=seed,
    )  # fmt: skip
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    print_matrix(result.counts.set_index("model").drop(columns=["job", "dataset"]), "Images read per model", 0)
    folder = out or directory / "analysis"
    folder.mkdir(parents=True, exist_ok=True)
    result.counts.to_csv(folder / "factor_counts.csv", index=False)
    if result.ratios.empty:
        console.print("No ImageNet-X error ratios: no stored prediction is on an annotated ImageNet val image.")
        return
    print_matrix(result.ratios, f"ImageNet-X error ratio per factor ({which} factor)")
    result.table.to_csv(folder / "factor_error_ratios.csv", index=False)
    save(factor_ratio_heatmap(result.ratios), folder, "factor_error_ratios")
    written = "factor_counts.csv, factor_error_ratios.csv/.png/.svg"
    if not result.correlations.empty:
        rho = wide(result.correlations, "total", value="rho")
        print_matrix(rho, "Spearman rho, bias vs error ratio (all models; CIs and Holm/BH p in the CSV)")
        result.correlations.to_csv(folder / "bias_factor_correlations.csv", index=False)
        save(bias_factor_heatmap(result.correlations), folder, "bias_factor_correlations")
        written += ", bias_factor_correlations.csv/.png/.svg"
    console.print(f"Wrote {written} to {folder}")


@register_commands
def register(app: typer.Typer) -> None:
    """Add ``factors`` to the ``biasbench`` app."""
    app.command("factors")(factors)
