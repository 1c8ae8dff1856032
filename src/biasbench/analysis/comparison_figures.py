"""Figures of the joint prediction (``explain``) and of the model-vs-human comparison (``humans``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from biasbench.analysis.figures import TITLES, category_colors


def predicted_vs_true(
    predictions: pd.DataFrame,
    summary: pd.DataFrame,
    regressor: str = "ridge",
    scheme: str = "lomo",
    feature_sets: tuple[str, ...] = ("biases", "top1+biases"),
) -> Figure | None:
    """Held-out prediction against the true score, one panel per (feature set, score), coloured by
    category; the title gives the out-of-sample R² and its permutation p."""
    part = predictions[(predictions["regressor"] == regressor) & (predictions["scheme"] == scheme)]
    sets = [f for f in feature_sets if f in set(part["features"])]
    targets = list(pd.unique(part["target"]))
    if not sets or not targets:
        return None
    colors = category_colors(part["category"])
    fig, axes = plt.subplots(len(sets), len(targets), figsize=(3.2 * len(targets), 3.2 * len(sets)), squeeze=False)
    for r, features in enumerate(sets):
        for c, target in enumerate(targets):
            ax = axes[r, c]
            cell = part[(part["features"] == features) & (part["target"] == target)]
            for category, group in cell.groupby("category"):
                ax.scatter(group["y"], group["y_hat"], s=18, color=colors.get(category, "grey"), label=category)
            lo, hi = np.nanmin(cell[["y", "y_hat"]].to_numpy()), np.nanmax(cell[["y", "y_hat"]].to_numpy())
            ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")
            row = summary[
                (summary["target"] == target) & (summary["features"] == features)
                & (summary["regressor"] == regressor) & (summary["scheme"] == scheme)
            ].iloc[0]  # fmt: skip
            ax.set_title(f"{TITLES.get(target, target)} ← {features}\nR²={row['r2']:.2f}, p={row['p_perm']:.3f}")
            ax.set_xlabel("true [%]")
            ax.set_ylabel(f"predicted ({scheme.upper()}) [%]")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig
