"""Layer-criticality heat-maps (METHODS.md §7.3): models × layers, and the difference to a baseline model."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure  # pyplot-free: no global backend or figure state

from biasbench.core.errors import BiasbenchError


def criticality_matrix(records: pd.DataFrame, metric: str = "criticality") -> pd.DataFrame:
    """Models × layers table of ``metric`` (percent) from the records of probe ``criticality`` (one job per
    model), layers in network order (the analysis' table)."""
    from biasbench.analysis.criticality import criticality_matrix as analysis_matrix

    rows = records[(records["probe"] == "criticality") & (records["metric"] == metric)]
    if rows.empty:
        raise BiasbenchError(f"no '{metric}' records of probe 'criticality' to plot; run the criticality probe first")
    return analysis_matrix(records, metric)


def criticality_heatmap(
    records: pd.DataFrame, path: str | Path, *, baseline: str | None = None, metric: str = "criticality"
) -> Path:
    """Write the models × layers heat-map of ``metric`` to ``path`` (format from the suffix); with
    ``baseline`` a second panel shows each model minus the baseline model (range −100…100)."""
    table = criticality_matrix(records, metric)
    if baseline is not None and baseline not in table.index:
        raise BiasbenchError(
            f"baseline model {baseline!r} has no criticality records; choose one of {list(table.index)}"
        )
    panels = [(table, f"{metric} (%)", "viridis", 0, 100)]
    if baseline is not None:
        panels.append((table - table.loc[baseline], f"{metric} − {baseline} (pp)", "RdBu_r", -100, 100))
    width = max(6.0, 0.18 * table.shape[1] + 3)
    height = max(2.0, 0.35 * table.shape[0] + 1.5)
    fig = Figure(figsize=(width, height * len(panels)))
    axes = fig.subplots(len(panels), 1, squeeze=False)
    for ax, (data, title, cmap, vmin, vmax) in zip(axes[:, 0], panels, strict=True):
        image = ax.imshow(data.to_numpy(dtype=float), aspect="auto", cmap=cmap, vmin=vmin, vmax=vmax)
        row_means = [f"{m} ({v:.1f})" for m, v in data.mean(axis=1).items()]  # model average in the label
        ax.set_yticks(range(data.shape[0]), row_means, fontsize=7)
        ax.set_xticks(range(data.shape[1]), data.columns, rotation=90, fontsize=6)
        ax.set_title(title)
        fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    return path
