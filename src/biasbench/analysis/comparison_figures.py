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


def shape_bias_by_category(per_category: pd.DataFrame) -> Figure | None:
    """model-vs-human's matrix plot: fraction of shape decisions per shape category (rows, ordered by the
    humans), humans against each model; vertical lines mark each observer's overall shape bias."""
    if per_category.empty:
        return None
    table = per_category.pivot(index="category", columns="observer", values="shape_bias")
    overall = table.loc["all"] if "all" in table.index else None
    table = table.drop(index="all", errors="ignore")
    if "humans" in table.columns:
        table = table.sort_values("humans")
    fig, ax = plt.subplots(figsize=(6.5, 0.35 * len(table) + 1.8))
    palette = plt.get_cmap("tab10").colors
    models = [c for c in table.columns if c != "humans"]
    y = np.arange(len(table))
    for i, model in enumerate(models):
        color = palette[i % 10]
        ax.scatter(table[model], y, s=28, marker="o", color=color, label=model, zorder=3)
        if overall is not None:
            ax.axvline(overall[model], color=color, lw=0.8, alpha=0.7)
    if "humans" in table.columns:
        ax.scatter(table["humans"], y, s=60, marker="D", color="#c00000", label="humans", zorder=4)
        if overall is not None:
            ax.axvline(overall["humans"], color="#c00000", lw=1.2)
    ax.set_yticks(y, table.index)
    ax.set_xlim(0, 1)
    ax.set_xlabel("fraction of 'shape' decisions (shape bias per category)")
    ax.grid(axis="y", ls=":", alpha=0.4)
    ax.legend(fontsize=7, loc="lower right", frameon=False)
    fig.tight_layout()
    return fig


def error_consistency_bars(summary: pd.DataFrame) -> Figure | None:
    """Mean error consistency κ with the human subjects per model and dataset; the dashed line is the
    human-vs-human ceiling."""
    if summary.empty:
        return None
    datasets = list(pd.unique(summary["dataset"]))
    fig, axes = plt.subplots(1, len(datasets), figsize=(3.6 * len(datasets), 3.2), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        part = summary[summary["dataset"] == dataset]
        models = part[part["observer"] != "humans"]
        ax.bar(range(len(models)), models["kappa"], color="#4c72b0")
        ax.set_xticks(range(len(models)), models["observer"], rotation=60, ha="right", fontsize=7)
        human = part.loc[part["observer"] == "humans", "kappa"]
        if len(human):
            ax.axhline(float(human.iloc[0]), color="#c00000", ls="--", lw=1, label="humans vs humans")
        ax.axhline(0, color="grey", lw=0.6)
        ax.set_title(dataset)
        ax.set_ylabel("error consistency κ")
        ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig
