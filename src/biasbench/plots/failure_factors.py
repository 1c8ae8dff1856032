"""ImageNet-X figures (``biasbench.analysis.failure_factors``): the models x factors heat-map of error ratios
and the biases x factors correlation matrix, each with a colour bar."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from biasbench.core.errors import BiasbenchError
from biasbench.plots.correlation import correlation_panels


def factor_ratio_heatmap(ratios: pd.DataFrame) -> Figure:
    """Models x factors heat-map of error ratios, diverging at 1 (blue: fails less often on images with that
    factor than on average, red: more often); values in the cells."""
    if ratios.empty:
        raise BiasbenchError("no ImageNet-X error ratios to plot: no model has predictions on ImageNet val files")
    values = ratios.to_numpy(float)
    finite = values[np.isfinite(values)]
    # a linear scale symmetric about 1 (at most 0 ... 2); larger ratios take the darkest red
    spread = min(max(float(np.abs(finite - 1).max()) if len(finite) else 0.0, 0.25), 1.0)
    fig = Figure(figsize=(0.62 * ratios.shape[1] + 3.5, 0.42 * ratios.shape[0] + 2.2))
    ax = fig.subplots()
    image = ax.imshow(values, cmap="RdBu_r", vmin=1 - spread, vmax=1 + spread)
    for (i, j), value in np.ndenumerate(values):
        if np.isfinite(value):
            color = "white" if abs(value - 1) > 0.6 * spread else "black"
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6.5, color=color)
    ax.set_xticks(range(ratios.shape[1]), [c.replace("_", " ") for c in ratios.columns], rotation=45, ha="right")
    ax.set_yticks(range(ratios.shape[0]), list(ratios.index), fontsize=7)
    ax.set_title("ImageNet-X error ratio per factor (error rate on the factor's images / overall error rate)")
    extend = "max" if len(finite) and finite.max() > 1 + spread else "neither"
    fig.colorbar(image, ax=ax, label="error ratio (1 = as often as on average)", shrink=0.8, extend=extend)
    fig.tight_layout()
    return fig


def bias_factor_heatmap(table: pd.DataFrame, method: str = "spearman") -> Figure:
    """Biases (rows) x factors (columns) matrix of the correlation of each bias with each factor's error ratio
    across models, drawn like every correlation heat-map of the report (``plots.correlation``: coloured where
    significant after the Holm correction, bootstrap CIs in the cells, a colour bar)."""
    if table.empty:
        raise BiasbenchError("no bias-factor correlations to plot: they need at least 3 models with both")
    labels = {f: f.replace("_", " ") for f in table["benchmark"]}
    fig = correlation_panels(table, ("total",), method=method, labels=labels)
    fig.suptitle(f"Bias vs ImageNet-X error ratio across models ({method})", fontsize=10)
    return fig
