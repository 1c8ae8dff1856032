"""Layer-criticality figures (METHODS.md §7.3): the models × layers heat-map (optionally with the difference to a
baseline model) and model-average criticality against ImageNet top-1. The numbers come from
``biasbench.analysis.criticality`` (``criticality_matrix``, ``analyse_criticality``)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # pyplot-free: no global backend or figure state

from biasbench.core.errors import BiasbenchError
from biasbench.plots.palette import UNCATEGORISED, category_styles, legend_handles, legend_right


def layer_labels(layers: list[str]) -> list[str]:
    """Short heat-map labels: ``layer3.0.conv2`` -> ``[3.0] conv2`` (the notebook's style)."""
    out = []
    for layer in layers:
        match = re.match(r"layer(\d+)\.(\d+)\.(.+)", layer)
        out.append(f"[{match[1]}.{match[2]}] {match[3]}" if match else layer)
    return out


def label_rows(ax, data: pd.DataFrame, categories: pd.Series | None, *, fontsize: float, average: bool = False) -> None:
    """Heat-map rows labelled "model (category)" with a white line where the category changes, or without
    categories "model" (with ``average``: "model (its mean)")."""
    if categories is None:
        rows = [f"{m} ({v:.1f})" if average else str(m) for m, v in data.mean(axis=1).items()]
    else:
        row_categories = categories.reindex(data.index).to_numpy()
        rows = [f"{m} ({c})" for m, c in zip(data.index, row_categories, strict=True)]
        for b in np.flatnonzero(row_categories[1:] != row_categories[:-1]):
            ax.axhline(b + 0.5, color="white", lw=1.5)
    ax.set_yticks(range(data.shape[0]), rows, fontsize=fontsize)


def criticality_heatmap(
    matrix: pd.DataFrame,
    categories: pd.Series | None = None,
    *,
    baseline: str | None = None,
    metric: str = "criticality",
) -> Figure:
    """Models × layers heat-map of ``matrix`` (percent; ``analysis.criticality.criticality_matrix``). With
    ``categories`` the rows are labelled by category and separated where it changes (the study's figure),
    otherwise by the model's average; with ``baseline`` a second panel shows each model minus the baseline
    model (−100…100 percentage points)."""
    if matrix.empty:
        raise BiasbenchError(f"no '{metric}' records of probe 'criticality' to plot; run the criticality probe first")
    if baseline is not None and baseline not in matrix.index:
        raise BiasbenchError(
            f"baseline model {baseline!r} has no criticality records; choose one of {list(matrix.index)}"
        )
    panels = [(matrix, f"{metric} [%]", "viridis", 0, 100)]
    if baseline is not None:
        panels.append((matrix - matrix.loc[baseline], f"{metric} − {baseline} [pp]", "RdBu_r", -100, 100))
    fig = Figure(figsize=(0.22 * matrix.shape[1] + 4, (0.2 * matrix.shape[0] + 2) * len(panels)))
    axes = fig.subplots(len(panels), 1, squeeze=False)
    for ax, (data, label, cmap, vmin, vmax) in zip(axes[:, 0], panels, strict=True):
        image = ax.imshow(data.to_numpy(float), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        ax.set_xticks(range(data.shape[1]), layer_labels(list(data.columns)), rotation=90, fontsize=6)
        label_rows(ax, data, categories, fontsize=6, average=True)
        fig.colorbar(image, ax=ax, label=label)
    fig.tight_layout()
    return fig


def criticality_vs_accuracy(model_mean: pd.DataFrame, top1: pd.Series) -> Figure:
    """Model-average criticality against ImageNet top-1, one colour and marker per category."""
    frame = model_mean.set_index("model").join(top1.rename("top1")).dropna()
    styles = category_styles(frame["category"])
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.subplots()
    for category, part in frame.groupby("category"):
        s = styles.get(category, styles[UNCATEGORISED])
        ax.scatter(part["top1"], part["mean_criticality"], color=s.color, marker=s.marker, edgecolor=s.edge, s=30)
    ax.set_xlabel("ImageNet top-1 [%]")
    ax.set_ylabel("average criticality [%]")
    ax.grid(alpha=0.3)
    legend_right(fig, legend_handles(frame["category"]))
    return fig


def architectures(matrix: pd.DataFrame) -> list[pd.DataFrame]:
    """The rows of ``matrix`` grouped by the layers they have (one group per architecture), each group with
    only its own layers, in the matrix's column order."""
    keys = matrix.notna().apply(lambda row: tuple(row.to_numpy()), axis=1)
    return [matrix.loc[keys.index[keys == key], list(np.asarray(matrix.columns)[list(key)])]
            for key in dict.fromkeys(keys)]  # fmt: skip


def criticality_by_architecture(matrix: pd.DataFrame, categories: pd.Series | None = None) -> Figure:
    """One heat-map panel per architecture (models sharing a layer list; ``architectures``), each with its own
    layers and a colour bar, rows labelled by model (and category)."""
    if matrix.empty:
        raise BiasbenchError("no 'criticality' records of probe 'criticality' to plot; run the criticality probe first")
    groups = architectures(matrix)
    widest = max(g.shape[1] for g in groups)
    heights = [0.22 * g.shape[0] + 1.9 for g in groups]
    fig = Figure(figsize=(0.17 * widest + 4.5, sum(heights)), layout="constrained")
    axes = fig.subplots(len(groups), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, group in zip(axes, groups, strict=True):
        image = ax.imshow(group.to_numpy(float), cmap="viridis", vmin=0, vmax=100, aspect="auto")
        ax.set_xticks(range(group.shape[1]), layer_labels(list(group.columns)), rotation=90, fontsize=7)
        ax.set_xlim(-0.5, widest - 0.5)  # every panel on one scale: a layer is as wide in each
        label_rows(ax, group, categories, fontsize=7)
        ax.set_title(f"{group.shape[1]} layers, {group.shape[0]} model(s)", fontsize=8, loc="left")
        fig.colorbar(image, ax=ax, label="criticality [%]", fraction=0.02, pad=0.01)
    return fig
