"""CLI: ``biasbench critical-band-fit FILE`` — thresholds and channel parameters of a saved accuracy grid."""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from biasbench.commands import register_commands
from biasbench.core.channel_fit import Reference
from biasbench.core.errors import BiasbenchError


class OutputFormat(StrEnum):
    table = "table"
    json = "json"


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else round(value, 4)


def critical_band_fit(
    file: Annotated[
        Path,
        typer.Argument(
            help="Per-network JSON (noise<sd>freq<band> → 0/1 list) or a 5x7 "
            "JSON/CSV matrix of accuracies in percent (rows σ, columns bands)."
        ),
    ],
    criterion: Annotated[float, typer.Option(help="Criterion θ in percent (of the reference, if any).")] = 50.0,
    reference: Annotated[
        Reference,
        typer.Option(
            help="absolute θ %, θ % of the noise-free accuracy, or θ % of the clean accuracy (--clean-accuracy)."
        ),
    ] = Reference.absolute,
    clean_accuracy: Annotated[float | None, typer.Option(help="Clean accuracy in percent (reference clean).")] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="table or json.")] = OutputFormat.table,
) -> None:
    """Fit the critical-band channel of a saved accuracy grid: thresholds per band, bandwidth (octaves),
    centre frequency (cycles/image) and peak noise sensitivity (Subramanian et al. 2023)."""
    from biasbench.analysis.accuracy_grids import analyse_grid, load_accuracy_grid
    from biasbench.core.channel_fit import band_frequency

    if reference is Reference.clean and clean_accuracy is None:
        raise BiasbenchError("--reference clean needs the clean accuracy: pass --clean-accuracy PERCENT")
    grid = load_accuracy_grid(file)
    thresholds, fit, ref = analyse_grid(grid, criterion, reference.value, clean=clean_accuracy)
    result = {
        "file": str(file),
        "criterion": criterion,
        "reference": reference.value,
        "reference_accuracy": _number(ref),
        "thresholds": [int(t) for t in thresholds],
        "bandwidth": _number(fit.bandwidth),
        "center_frequency": _number(fit.center_frequency),
        "peak_noise_sensitivity": _number(fit.peak_noise_sensitivity),
        "fit_degenerate": fit.degenerate,
        "reason": fit.reason,
    }
    if output is OutputFormat.json:
        typer.echo(json.dumps(result, indent=2))
        return
    console = Console()
    bands = Table(title=f"Thresholds ({criterion:g} % criterion, reference {reference.value})")
    bands.add_column("band")
    bands.add_column("c/img", justify="right")
    bands.add_column("threshold", justify="right")
    for f, t in enumerate(thresholds):
        bands.add_row(str(f), f"{band_frequency(f):g}", str(int(t)))
    console.print(bands)
    if fit.degenerate:
        console.print(f"fit degenerate: {fit.reason} (bandwidth, centre frequency and PNS are undefined)")
        return
    console.print(
        f"bandwidth {fit.bandwidth:.2f} octaves, centre frequency {fit.center_frequency:.2f} cycles/image, "
        f"peak noise sensitivity {fit.peak_noise_sensitivity:.2f}",
        highlight=False,
    )


@register_commands
def register(app: typer.Typer) -> None:
    """Add ``critical-band-fit`` to the ``biasbench`` app."""
    app.command("critical-band-fit")(critical_band_fit)
