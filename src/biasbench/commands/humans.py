"""CLI: ``biasbench humans DIR`` — the stored 16-class decisions against model-vs-human's human observers."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from biasbench.commands import register_commands
from biasbench.commands.analysis import PreferOpt, console, print_text, selector_for


def humans(
    directory: Annotated[Path, typer.Argument(help="A results directory with shape-bias / edge / silhouette jobs.")],
    data_root: Annotated[Path | None, typer.Option(help="Data root (default: $BIASBENCH_DATA).")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for the CSVs (default: DIR/analysis).")] = None,
    prefer: PreferOpt = None,
) -> None:
    """16-class accuracy, cue-conflict shape bias per category and error consistency (κ) of every model
    against the human subjects of model-vs-human, with the human-vs-human ceiling."""
    from biasbench.analysis.humans import HUMAN_DATA, compare_results
    from biasbench.core.errors import BiasbenchError, MissingResultsError

    if not Path(directory).is_dir():
        raise MissingResultsError(f"no results directory at {directory}")
    result = compare_results(directory, data_root, selector_for(directory, prefer))
    if result is None:
        raise BiasbenchError(
            "nothing to compare: run `biasbench run -p shape-bias` (cue-conflict) or "
            "`-p accuracy -d edge -d silhouette` into DIR, and put model-vs-human's raw data under "
            f"<data root>/{HUMAN_DATA}."
        )
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    print_text(result.summary.round(3), "Models against humans (κ: mean over subjects; humans: over subject pairs)")
    folder = out or Path(directory) / "analysis"
    folder.mkdir(parents=True, exist_ok=True)
    for stem, frame in (("humans", result.summary), ("humans_per_category", result.per_category),
                        ("humans_pairs", result.pairs)):  # fmt: skip
        frame.to_csv(folder / f"{stem}.csv", index=False)
    console.print(f"Wrote humans.csv, humans_per_category.csv and humans_pairs.csv to {folder}")


@register_commands
def register(app: typer.Typer) -> None:
    """Add ``humans`` to the ``biasbench`` app."""
    app.command("humans")(humans)
