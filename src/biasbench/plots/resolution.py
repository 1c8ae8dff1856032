"""Accuracy against test resolution (the ``resolution`` probe), one panel per dataset, one line per model and
protocol (solid: naive; dashed: BatchNorm re-estimated), the best resolution of each line marked."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from biasbench.store.conditions import ResolutionSetting  # noqa: E402

STYLES = {"naive": "-", "bn": "--"}


def resolution_curves(records: pd.DataFrame) -> pd.DataFrame:
    """Tidy (model, dataset, protocol, resolution, top1) rows from the probe's ``top1`` records."""
    rows = records[(records["probe"] == "resolution") & (records["metric"] == "top1")].copy()
    if rows.empty:
        return pd.DataFrame(columns=["model", "dataset", "protocol", "resolution", "top1"])
    cells = [ResolutionSetting.parse(c) for c in rows["condition"].astype(str)]
    rows["protocol"], rows["resolution"] = [c.protocol for c in cells], [c.size for c in cells]
    return rows.rename(columns={"value": "top1"})[["model", "dataset", "protocol", "resolution", "top1"]]


def resolution_figure(records: pd.DataFrame) -> Figure | None:
    """The figure, or None when there are no resolution records."""
    curves = resolution_curves(records)
    if curves.empty:
        return None
    datasets = sorted(curves["dataset"].unique())
    fig, axes = plt.subplots(
        1, len(datasets), figsize=(4.5 * len(datasets) + 2, 3.6), squeeze=False, layout="constrained"
    )
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for (model, protocol), line in curves[curves["dataset"] == dataset].groupby(["model", "protocol"]):
            line = line.sort_values("resolution")
            (drawn,) = ax.plot(line["resolution"], 100 * line["top1"], STYLES.get(protocol, ":"), marker="o",
                               ms=3, label=f"{model} ({protocol})")  # fmt: skip
            best = line.loc[line["top1"].idxmax()]
            ax.plot(best["resolution"], 100 * best["top1"], "*", ms=11, color=drawn.get_color())
        ax.set_xscale("log", base=2)
        ticks = sorted(curves.loc[curves["dataset"] == dataset, "resolution"].unique())
        ax.set_xticks(ticks, [str(t) for t in ticks], fontsize=7)
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("test resolution r [px]")
        ax.set_ylabel("top-1 [%]")
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)
    return fig
