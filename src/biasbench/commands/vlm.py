"""CLI: ``biasbench import decisions CSV`` (a vision-language model's per-image answers made elsewhere, as
shape-bias records) and ``biasbench reproduce gavrikov2025`` (registered in the ``reproduce`` group)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from biasbench.commands import register_commands
from biasbench.commands.analysis import DataOpt, OutOpt, SeedOpt, console

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
    bootstrap_reps: Annotated[
        int, typer.Option("--bootstrap-reps", min=0, help="Resamples of the shape-bias CI (0: none).")
    ] = 2000,
) -> None:
    """Import a model's per-image cue-conflict decisions made elsewhere (a VLM prompted on a GPU farm or through
    an API) as its shape-bias job: shape_bias with CI, top1, fractions, counts and the per-image decisions, with
    the prompt as a parameter of the job. Labels other than the 16 categories (or empty) are no decision."""
    from biasbench.api import import_decisions

    text = _prompt_text(prompt, prompt_file)
    result = import_decisions(
        csv, model, out, prompt=text, data_root=data_root, seed=seed, bootstrap_reps=bootstrap_reps
    )
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


def gavrikov2025(
    data: DataOpt = None,
    out: OutOpt = None,
    data_root: DataRootOpt = None,
    n_boot: Annotated[
        int, typer.Option("--n-boot", help="Bootstrap resamples of each shape-bias CI (0 = none).")
    ] = 1000,
    seed: SeedOpt = 0,
    min_accuracy: Annotated[
        float, typer.Option("--min-accuracy", help="Steering range also over prompts with at least this cue accuracy.")
    ] = 0.5,
) -> None:
    """Reproduce Gavrikov et al. (ICLR 2025) from the released per-image decisions: shape bias and cue accuracy
    per model and prompt, the figure by family with the human value, and the prompt-search steering table."""
    from rich.progress import Progress

    from biasbench.analysis.gavrikov2025 import prompt_table
    from biasbench.report.gavrikov2025 import reproduce_gavrikov2025

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("decisions files", total=None)
        result = reproduce_gavrikov2025(
            data,
            out,
            data_root=data_root,
            n_boot=n_boot,
            seed=seed,
            min_accuracy=min_accuracy,
            progress=lambda path: bar.update(task, advance=1, description=path.name),
        )
    models = result.models
    ci = models.apply(lambda r: "" if pd.isna(r.ci_low) else f"[{r.ci_low:.3f}, {r.ci_high:.3f}]", axis=1)
    shown = pd.DataFrame(
        {
            "family": models["family"],
            "model": models["model"],
            "prompt": models["prompt"],
            "shape bias": models["shape_bias"],
            "95% CI": ci,
            "cue accuracy": models["cue_accuracy"],
            "shape": models["n_shape"],
            "texture": models["n_texture"],
            "no decision": models["n_no_decision"],
        }
    )
    print_table(shown, "Shape bias and cue accuracy over the 1,200 cue-conflict stimuli (the study's definitions)")
    print_table(prompt_table(models, ["clip"]), "Zero-shot CLIP shape bias per template")
    print_table(prompt_table(models, ["vqa", "captioning"]), "VLM shape bias: multiple choice vs caption")
    print_table(
        result.steering_summary.set_index("model"),
        f"Prompt search: shape-bias range over all prompts and over those kept (cue accuracy >= {min_accuracy})",
    )
    console.print(f"Human shape bias (model-vs-human, subjects pooled): {result.human_shape_bias:.3f}")
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if out is not None:
        console.print(f"Wrote models.csv, steering.csv, steering_summary.csv and figures to {out}")


@register_commands
def register(app: typer.Typer) -> None:
    """Add the ``import`` group (``import decisions``) to the ``biasbench`` app; ``gavrikov2025`` joins the
    ``reproduce`` group in ``commands.analysis``."""
    group = typer.Typer(help="Bring results made elsewhere into a results directory.", no_args_is_help=True)
    group.command("decisions")(decisions)
    app.add_typer(group, name="import")
