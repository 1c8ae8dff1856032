"""CLI: ``biasbench explain DIR`` (joint prediction of generalization from all biases) and
``biasbench informativeness DIR`` (Djolonga et al.: what each bias adds to accuracy for telling model
categories apart)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from biasbench.commands import register_commands
from biasbench.commands.analysis import (
    BootOpt,
    PermOpt,
    PreferOpt,
    SeedOpt,
    categories_for,
    console,
    print_matrix,
    selector_for,
)
from biasbench.core.errors import BiasbenchError

DirArg = Annotated[Path, typer.Argument(help="A biasbench results directory.")]
CatOpt = Annotated[
    Path | None,
    typer.Option("--categories", help="JSON {category: \\[model, ...]} (default: zoo categories of the models)."),
]
OutDirOpt = Annotated[Path | None, typer.Option("--out", help="Folder for the CSVs (default: DIR/analysis).")]


def _load(directory: Path, categories: Path | None, prefer: list[str] | None, members: bool = False):
    from biasbench.analysis.scores import bias_table, generalization_scores
    from biasbench.analysis.specs import IMAGENET_TOP1, SCORES, ScoreSpec
    from biasbench.store import load_results

    records = load_results(directory)
    selector = selector_for(directory, prefer)
    scores, biases = generalization_scores(records, selector=selector), bias_table(records, selector=selector)
    if members:  # every benchmark number behind a score becomes a target of its own (percent)
        specs = tuple(ScoreSpec(m.label, m.label, (m,)) for s in SCORES for m in s.members if m != IMAGENET_TOP1)
        extra = generalization_scores(records, specs, selector)
        scores.values = scores.values.join(extra.values[[s.name for s in specs]])
    return scores, biases, categories_for(records, categories)


def explain(
    directory: DirArg,
    categories: CatOpt = None,
    out: OutDirOpt = None,
    n_perm: PermOpt = 1000,
    n_boot: BootOpt = 1000,
    seed: SeedOpt = 0,
    members: Annotated[
        bool, typer.Option("--members", help="Also predict every benchmark behind the scores (e.g. ImageNet-A).")
    ] = False,
    prefer: PreferOpt = None,
) -> None:
    """Predict each generalization score across models from all biases jointly (OLS, ridge, ranks), from
    ImageNet top-1 alone and from both; out-of-sample R² (LOMO, LOCO) with permutation p-values."""
    from biasbench.analysis.explain import TOP1
    from biasbench.analysis.explain import explain as explain_api
    from biasbench.commands.analysis import print_explained

    scores, biases, cats = _load(directory, categories, prefer, members)
    targets = [c for c in scores.values.columns if c != TOP1 and scores.values[c].notna().any()]
    result = explain_api(scores.values, biases.values, cats, targets=targets, n_perm=n_perm, n_boot=n_boot, seed=seed)
    for note in [*scores.notes, *biases.notes, *result.notes]:
        console.print(f"[yellow]note:[/yellow] {note}")
    print_explained(result, result.notes)
    if result.summary.empty:
        raise typer.Exit(1)
    folder = out or Path(directory) / "analysis"
    result.save(folder)
    console.print(f"Wrote explain.csv, explain_predictions.csv and explain_importance.csv to {folder}")


def informativeness(
    directory: DirArg,
    categories: CatOpt = None,
    out: OutDirOpt = None,
    n_boot: Annotated[int, typer.Option("--n-boot", help="Bootstrap resamples over models.")] = 1000,
    seed: SeedOpt = 0,
    prefer: PreferOpt = None,
) -> None:
    """How much each bias adds to ImageNet top-1 when predicting a model's category (leave-one-model-out
    accuracy of multinomial logistic regression; Djolonga et al., CVPR 2021)."""
    from biasbench.analysis.informativeness import category_informativeness

    scores, biases, cats = _load(directory, categories, prefer)
    if cats is None:
        raise BiasbenchError("informativeness needs model categories: pass --categories FILE.json")
    table = category_informativeness(scores.values.join(biases.values), cats, n_boot=n_boot, seed=seed)
    if table is None:
        raise BiasbenchError(
            "informativeness needs ImageNet top-1, at least one bias and >= 8 categorised "
            "models in >= 2 categories of >= 2 models each; run the accuracy and bias probes on more models."
        )
    print_matrix(table.set_index("features"), "Informativeness beyond ImageNet top-1 (LOO category accuracy)", 3)
    folder = out or Path(directory) / "analysis"
    folder.mkdir(parents=True, exist_ok=True)
    table.to_csv(folder / "informativeness.csv", index=False)
    console.print(f"Wrote informativeness.csv to {folder}")


@register_commands
def register(app: typer.Typer) -> None:
    """Add ``explain`` and ``informativeness`` to the ``biasbench`` app."""
    app.command("explain")(explain)
    app.command("informativeness")(informativeness)
