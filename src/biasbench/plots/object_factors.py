"""SI-SCORE figures from records (METHODS.md §8.3): top-1 against object area, normalised top-1 against
rotation angle (centred on 0°: angles ≥ 181° shifted by −360°, without the demo's duplicated point), and a
location heat-map per model."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # pyplot-free: no global backend or figure state

from biasbench.analysis.specs import SI_SCORE_TOP1
from biasbench.core.errors import BiasbenchError
from biasbench.plots.palette import Style, legend_right
from biasbench.store.conditions import FactorLevel, Location, parse_as
from biasbench.store.metrics import select


def factor_table(records: pd.DataFrame, metric: str = SI_SCORE_TOP1.metric) -> tuple[str, pd.DataFrame]:
    """The factor (``area``, ``rotation`` or ``location``) and a long table model, x, y?, value."""
    rows = select(records, SI_SCORE_TOP1.probe, metric)
    rows = rows[rows["condition"].astype(str) != ""]
    if rows.empty:
        raise BiasbenchError(f"no per-factor '{metric}' records of probe 'si-score' to plot")
    groups = [parse_as(c, FactorLevel, Location) for c in rows["condition"].astype(str)]
    kind = groups[0].factor
    table = pd.DataFrame({"model": rows["model"].astype(str).to_numpy(), "value": rows["value"].to_numpy()})
    if kind == "location":
        table["x"] = [g.x for g in groups]
        table["y"] = [g.y for g in groups]
        return "location", table
    table["x"] = [g.value for g in groups]
    if kind == "rotation":
        table["x"] = np.where(table["x"] >= 181, table["x"] - 360, table["x"])
    return kind, table.sort_values(["model", "x"])


def si_score_figure(records: pd.DataFrame, styles: Mapping[str, Style] | None = None) -> Figure:
    """The figure of the factor the records of one SI-SCORE dataset vary: curves for area (top-1) and rotation
    (normalised top-1), one heat-map per model for location (top-1). ``styles``: colour and marker per model
    (``plots.palette``), else one tab10 colour each; the legend stands right of the curves."""
    kind, _ = factor_table(records)
    metric = "normalised_top1" if kind == "rotation" else "top1"
    _, table = factor_table(records, metric)
    models = list(dict.fromkeys(table["model"]))
    if kind == "location":
        fig = Figure(figsize=(3.6 * len(models), 3.4))  # each panel its own colour bar
        axes = fig.subplots(1, len(models), squeeze=False)[0]
        for ax, model in zip(axes, models, strict=True):
            grid = table[table["model"] == model].pivot_table(index="y", columns="x", values="value")
            image = ax.imshow(
                grid.to_numpy(),
                origin="upper",
                vmin=0,
                vmax=1,
                cmap="viridis",
                extent=(grid.columns.min(), grid.columns.max(), grid.index.max(), grid.index.min()),
            )
            ax.set(title=model, xlabel="object centre x", ylabel="object centre y")
            fig.colorbar(image, ax=ax, fraction=0.046, label="top-1")
    else:
        fig = Figure(figsize=(7.5, 4), layout="constrained")
        ax = fig.subplots()
        for i, model in enumerate(models):
            part = table[table["model"] == model]
            st = (styles or {}).get(model)
            star = st is not None and st.marker == "*"
            ax.plot(
                part["x"],
                part["value"],
                marker=st.marker if st else "o",
                color=st.color if st else f"C{i}",
                markeredgecolor=st.edge if st else None,
                ms=10 if star else 5,
                label=model,
            )
        ax.set(
            xlabel="object area (fraction of image)" if kind == "area" else "rotation angle (degrees)",
            ylabel="top-1" if kind == "area" else "normalised top-1",
        )
        ax.grid(alpha=0.3)
        legend_right(fig, ax.get_legend_handles_labels()[0])
        return fig
    fig.tight_layout()
    return fig
