"""The ranking-based shape bias (REFINED-BIAS) against the 16-class cue-conflict ratio, one panel per
ranking (``biasbench.analysis.ranking_bias``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from biasbench.analysis.ranking_bias import RANKING_BIASES
from biasbench.core.errors import BiasbenchError
from biasbench.plots.palette import UNCATEGORISED, category_styles, legend_handles, legend_right

LABELS = {
    "shape_bias": "16-class cue-conflict shape bias",
    "shape_bias_mrr": "ranking-based shape bias, cue-conflict\nshape MRR / (shape MRR + texture MRR)",
    "rb_shape_preference": "REFINED-BIAS shape preference\nRB_S / (RB_S + RB_T)",
}


def ranking_vs_ratio_scatter(
    table: pd.DataFrame, correlations: pd.DataFrame | None = None, categories: pd.Series | None = None
) -> Figure:
    """Each model's 16-class shape bias (x) against its ranking-based bias (y) per available ranking, one colour
    and marker per category (``categories``; legend outside), the identity line dashed; the title gives
    Spearman ρ with its bootstrap CI when ``correlations`` has it."""
    panels = [c for c in RANKING_BIASES if c in table and (table[["shape_bias", c]].notna().all(axis=1)).any()]
    if not panels:
        raise BiasbenchError("no model has both the 16-class shape bias and a ranking-based bias to plot")
    cats = (categories if categories is not None else pd.Series(dtype=object)).reindex(table.index)
    cats = cats.fillna(UNCATEGORISED)
    styles = category_styles(cats)
    fig = Figure(figsize=(4.6 * len(panels) + (2.4 if categories is not None else 0), 4.4), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, column in zip(axes, panels, strict=True):
        part = table[["shape_bias", column]].dropna()
        for category, models in cats[part.index].groupby(cats[part.index], sort=False):
            s = styles[category]
            ax.scatter(part.loc[models.index, "shape_bias"], part.loc[models.index, column], s=30, marker=s.marker,
                       color=s.color, edgecolor=s.edge, linewidth=0.4, zorder=3)  # fmt: skip
        if len(part) <= 20:
            for model, row in part.iterrows():
                label = str(model).rsplit("/", 1)[-1].removesuffix(".tflite")[:32]
                ax.annotate(
                    label, (row["shape_bias"], row[column]), fontsize=6, xytext=(3, 3), textcoords="offset points"
                )
        # a square window around the models (the identity line stays diagonal), within [0, 1]
        values = part.to_numpy(float)
        pad = max(0.03, 0.1 * float(np.ptp(values)))
        lo, hi = max(0.0, float(values.min()) - pad), min(1.0, float(values.max()) + pad)
        ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--", label="ranking = 16-class")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_xlabel(LABELS["shape_bias"])
        ax.set_ylabel(LABELS[column], fontsize=8)
        title = f"n = {len(part)} models"
        if correlations is not None and not correlations.empty:
            cell = correlations[correlations["benchmark"] == column]
            if len(cell) and np.isfinite(cell["rho"].iloc[0]):
                c = cell.iloc[0]
                title += f", Spearman ρ = {c['rho']:.2f} [{c['ci_low']:.2f}, {c['ci_high']:.2f}]"
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    if categories is not None:
        drawn = table[["shape_bias", *panels]].dropna(subset=["shape_bias"]).dropna(how="all", subset=panels).index
        legend_right(fig, legend_handles(cats[drawn]))
    return fig
