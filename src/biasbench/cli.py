"""The ``biasbench`` command. Every command runs inside ``biasbench.handler``: a user's error is one line
naming the problem and the fix (``--debug`` shows the traceback)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from biasbench.commands import register_all
from biasbench.core.errors import BiasbenchError
from biasbench.handler import HandledGroup, options

app = typer.Typer(name="biasbench", cls=HandledGroup, no_args_is_help=True, pretty_exceptions_enable=False)
app.callback()(options)
# Piped output (files, CI logs) gets wide tables instead of rich's 80-column default.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 200)
out = Console(width=None if sys.stdout.isatty() else 240)


def table_of(frame, title: str = "") -> Table:
    table = Table(title=title or None, show_lines=False)
    for column in frame.columns:
        table.add_column(str(column), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*[_cell(v) for v in row])
    return table


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:.4g}"
    return escape(str(value))  # layouts like "[...]" are text, not rich markup


@app.command()
def run(
    model: Annotated[list[str], typer.Option("--model", "-m", help="Model spec or zoo name; repeat for several.")],
    probe: Annotated[list[str], typer.Option("--probe", "-p", help="Probe name; repeat for several.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Results directory (created; resumable).")],
    dataset: Annotated[
        list[str] | None, typer.Option("--dataset", "-d", help="Dataset(s) for probes that take one.")
    ] = None,
    data_root: Annotated[Path | None, typer.Option(help="Data root (default: $BIASBENCH_DATA).")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.")] = "auto",
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 64,
    limit: Annotated[
        int | None,
        typer.Option(help="Evaluate N images of each dataset: a seeded sample balanced over its classes."),
    ] = None,
    limit_mode: Annotated[
        str | None, typer.Option(help="How --limit samples: balanced (default) or first (the first N, sorted).")
    ] = None,
    partial: Annotated[
        bool, typer.Option(help="Measure a trimmed copy of a dataset as it is (recorded as partial).")
    ] = False,
    seed: Annotated[int, typer.Option(help="Global seed of every random draw.")] = 0,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Probe parameter PROBE.PARAM=VALUE; repeatable.")
    ] = None,
    on_corrupt: Annotated[str, typer.Option(help="'error' stops at an undecodable image; 'skip' counts it.")] = "error",
    amp: Annotated[bool, typer.Option(help="Mixed precision (CUDA only).")] = False,
    channels_last: Annotated[bool, typer.Option(help="Channels-last memory format (also on CPU).")] = False,
    workers: Annotated[int | None, typer.Option(help="Data-loader worker processes.")] = None,
    executor: Annotated[str, typer.Option(help="local, or ray for a Ray cluster.")] = "local",
    address: Annotated[str | None, typer.Option(help="Ray cluster address (executor ray).")] = None,
    cache: Annotated[bool, typer.Option(help="Decode each dataset once into a uint8 cache shared by models.")] = False,
) -> None:
    """Run every (model, probe, dataset) job and write tidy records into OUT; finished jobs are skipped."""
    from biasbench.api import run as run_api
    from biasbench.engine.inference import EngineConfig
    from biasbench.run.plan import parse_overrides

    if address and executor != "ray":
        raise BiasbenchError(f"--address names a Ray cluster; add --executor ray (the executor is {executor!r})")
    config = EngineConfig(
        device=device,
        batch_size=batch_size,
        amp=amp,
        channels_last=channels_last,
        num_workers=workers,
        on_corrupt=on_corrupt,
        cache=cache,
    )
    result = run_api(
        model,
        probe,
        out_dir,
        datasets=dataset or (),
        data_root=data_root,
        params=parse_overrides(set_ or []),
        seed=seed,
        limit=limit,
        limit_mode=limit_mode,
        partial=partial,
        engine=config,
        executor=executor,
        executor_options={"address": address} if address else {},
        report=lambda m: console.print(m, highlight=False, markup=False),
    )
    summary = result.summary
    headline = result[result["condition"].fillna("") == ""]
    if len(headline):
        out.print(table_of(headline[["model", "probe", "dataset", "metric", "value", "n", "ci_low", "ci_high"]]))
    for caveat in sorted(set(headline["caveat"]) - {""}):
        console.print(Text.assemble(("note: ", "yellow"), caveat), soft_wrap=True)
    console.print(
        f"{len(summary.finished)} job(s) run, {len(summary.skipped)} skipped (already done), "
        f"{len(summary.failed)} failed. Results in {out_dir}",
        highlight=False,
    )
    failures: dict[str, list] = {}
    for job, error in summary.failed:  # one line per reason: a model that cannot load fails all its jobs at once
        failures.setdefault(error, []).append(job)
    for error, jobs in failures.items():
        what = jobs[0].label if len(jobs) == 1 else f"{jobs[0].model} ({len(jobs)} jobs)"
        console.print(Text.assemble(("failed ", "red"), f"{what}: {error}"), soft_wrap=True)
    if summary.failed:
        raise typer.Exit(1)


@app.command()
def results(
    directory: Annotated[Path, typer.Argument(help="A results directory written by `biasbench run`.")],
    format: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    probe: Annotated[str | None, typer.Option(help="Only this probe.")] = None,
    metric: Annotated[str | None, typer.Option(help="Only this metric.")] = None,
) -> None:
    """Print the tidy records (one row per number)."""
    from biasbench.store.metrics import probe_rows
    from biasbench.store.results import load_results

    frame = load_results(directory)
    if probe:
        frame = probe_rows(frame, probe)
    if metric:
        frame = frame[frame["metric"] == metric]
    writers = {
        "csv": lambda f: sys.stdout.write(f.to_csv(index=False)),
        "json": lambda f: sys.stdout.write(f.to_json(orient="records", indent=1) + "\n"),
        "table": lambda f: out.print(table_of(f.drop(columns=["job"]))),
    }
    if format not in writers:
        raise BiasbenchError(f"unknown format {format!r}; use one of {', '.join(writers)}")
    writers[format](frame)


@app.command()
def models(
    zoo: Annotated[str | None, typer.Option(help="List the models of this zoo (name or TOML path).")] = None,
) -> None:
    """List model sources and named models."""
    from biasbench.models import MODEL_SOURCES
    from biasbench.models.zoo import available_zoos, load_zoo

    zoos = [zoo] if zoo else available_zoos()
    if not zoo:
        sources = Table(title="Model sources")
        for column in ("prefix", "what", "example"):
            sources.add_column(column, overflow="fold")
        for prefix, source in sorted(MODEL_SOURCES.items()):
            sources.add_row(prefix, source.summary, source.example)
        out.print(sources)
    for name in zoos:
        z = load_zoo(name)
        table = Table(title=f"Zoo {z.name}: {z.description}")
        for column in ("id", "category", "source"):
            table.add_column(column, overflow="fold")
        for entry in z.models:
            table.add_row(entry.id, entry.category, entry.source)
        out.print(table)


@app.command()
def probes() -> None:
    """List probes, their datasets, parameters and the metrics each declares (unit, role, what higher means)."""
    from rich.markup import escape

    from biasbench.probes import PROBES

    table = Table(title="Probes")
    for column in ("probe", "measures", "datasets", "parameters (defaults)", "metrics"):
        table.add_column(column, overflow="fold")
    for name, cls in sorted(PROBES.items()):
        datasets = ", ".join(cls.fixed_datasets) or ("--dataset (default " + ", ".join(cls.default_datasets) + ")")
        params = ", ".join(f"{k}={json.dumps(v)}" for k, v in cls().params_dict().items())
        table.add_row(name, cls.summary, datasets, params, "\n".join(escape(m.describe()) for m in cls.metrics))
    out.print(table)


register_all(app)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
