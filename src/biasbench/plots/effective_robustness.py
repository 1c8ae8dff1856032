"""Figures of effective robustness (``analysis.effective_robustness``): ID vs OOD accuracy per OOD set on the
fit's axes (logit by default) with the reference line, its bootstrap band and the reference models' ID range (the
user's models as stars where placed against a study's lines); and the bias x OOD-set heat-maps of the
correlations with effective robustness beside the partial correlations, drawn as every correlation heat-map."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # pyplot-free: no global backend or figure state
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from biasbench.analysis.comparability import PLACED
from biasbench.analysis.correlation import family_cells
from biasbench.analysis.effective_robustness import ACCURACY_TARGET, ER_TARGET, ID_COLUMN, EffectiveRobustness
from biasbench.analysis.line_fit import get_transform
from biasbench.plots.correlation import Panel, heatmap_panels
from biasbench.plots.palette import (
    UNCATEGORISED,
    Style,
    category_styles,
    legend_handles,
    legend_right,
    yours_handles,
    yours_styles,
)

# Accuracy ticks (percent), coarse to fine: the first list with at least three ticks inside the axis is used.
_TICK_LISTS = (
    (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98, 99, 99.5, 99.9),
    tuple(range(5, 100, 5)),
    tuple(range(1, 100)),
)
UNSTABLE_COLOR = "#c00000"
LINE_COLOR = "tab:red"
REFERENCE_EDGE = "#000000"
# Marker style of (other, reference) models: reference models ringed in black and drawn on top.
_STYLE = {
    False: {"s": 22, "edgecolor": "white", "linewidth": 0.4, "zorder": 3},
    True: {"s": 42, "edgecolor": REFERENCE_EDGE, "linewidth": 1.2, "zorder": 4},
}


def accuracy_ticks(low: float, high: float, transform: str) -> list[float]:
    """Accuracy tick values (percent) for an axis spanning ``low``..``high`` in transformed units."""
    t = get_transform(transform)
    for ticks in _TICK_LISTS:
        inside = [v for v in ticks if low <= t.forward(v / 100) <= high]
        if len(inside) >= 3:
            return inside[:: math.ceil(len(inside) / 10)]
    return inside


def _limits(values: np.ndarray, pad: float = 0.08) -> tuple[float, float]:
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    margin = pad * (high - low or 1.0)
    return low - margin, high + margin


def _panel(ax, result: EffectiveRobustness, name: str, styles: dict[str, Style], cats: pd.Series,
           yours: pd.DataFrame) -> None:  # fmt: skip
    t, fit = get_transform(result.transform), result.lines[name]
    acc = result.accuracies[[ID_COLUMN, name]].dropna() / 100
    mine = yours[yours["ood"] == name] if len(yours) else yours
    both = np.concatenate([acc.to_numpy(), mine[["id_accuracy", "ood_accuracy"]].to_numpy(float) / 100])
    tx, ty = t.forward(both[:, 0]), t.forward(both[:, 1])
    shown = np.isfinite(tx) & np.isfinite(ty)
    xlim, ylim = _limits(tx[shown]), _limits(ty[shown])
    low, high = t.forward(np.array(fit.id_range))
    ax.axvspan(low, high, color="0.88", zorder=0)
    grid = np.linspace(*xlim, 200)
    if len(fit.draws):
        band_low, band_high = fit.band(t.inverse(grid))
        ax.fill_between(grid, t.forward(band_low), t.forward(band_high), color=LINE_COLOR, alpha=0.2, lw=0, zorder=1)
    ax.plot(grid, fit.slope * grid + fit.intercept, color=LINE_COLOR, lw=1.5, zorder=2)
    ax.plot(grid, grid, color="grey", lw=0.8, ls="--", zorder=1)
    reference = acc.index.isin(result.reference)
    for i, model in enumerate(acc.index):
        if shown[i]:
            s = styles[cats[model]]
            ax.scatter(tx[i], ty[i], marker=s.marker, color=s.color, **_STYLE[bool(reference[i])])
    star = yours_styles(dict.fromkeys(yours["model"])) if len(yours) else {}
    for k, row in enumerate(mine.itertuples()):
        i = len(acc) + k
        if shown[i]:
            s = star[row.model]
            ax.scatter(tx[i], ty[i], s=170, marker=s.marker, color=s.color, edgecolor=s.edge, linewidth=0.8, zorder=5)
            if row.status == "approximate":
                ax.annotate("≈", (tx[i], ty[i]), xytext=(6, 4), textcoords="offset points", fontsize=9)
    for axis, (lo, hi), setter in ((ax.xaxis, xlim, ax.set_xlim), (ax.yaxis, ylim, ax.set_ylim)):
        ticks = accuracy_ticks(lo, hi, result.transform)
        axis.set_ticks(t.forward(np.array(ticks) / 100), [f"{v:g}" for v in ticks])
        setter(lo, hi)
    slope = f"slope {fit.slope:.2f}"
    if len(fit.draws):
        slope += f" [{fit.slope_ci[0]:.2f}, {fit.slope_ci[1]:.2f}]"
    ax.set_title(f"{result.title(name)}\n{slope}", fontsize=9)
    if name in result.unstable:
        ax.text(0.03, 0.97, "unstable line", transform=ax.transAxes, va="top", fontsize=8, color=UNSTABLE_COLOR,
                fontweight="bold", bbox={"facecolor": "white", "edgecolor": UNSTABLE_COLOR, "pad": 2})  # fmt: skip
    ax.set_ylabel(f"{result.title(name)} top-1 [%]", fontsize=8)
    ax.set_xlabel(f"ImageNet top-1 [%], {result.transform} axis", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def line_scatter(result: EffectiveRobustness, yours: pd.DataFrame | None = None, ncols: int = 4) -> Figure | None:
    """ID vs OOD accuracy per OOD set on the fit's axes (accuracy tick labels): every model in its category's
    colour and marker, reference models ringed in black, the line with its bootstrap band, y = x dashed, and the
    reference models' ID range shaded (a narrow range gives an unstable line, flagged in red). ``yours``: the
    user's models placed against these lines (``context.place_effective_robustness``), drawn as stars where
    placed, "≈" where approximate; the others are not drawn."""
    names = list(result.lines)
    if not names:
        return None
    placed = pd.DataFrame(columns=["model", "ood", "status", "id_accuracy", "ood_accuracy"])
    if yours is not None and len(yours):
        placed = yours[yours["status"].isin(PLACED)]
    ncols = min(ncols, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig = Figure(figsize=(3.4 * ncols, 3.3 * nrows), layout="constrained")  # the legend goes right of it
    axes = fig.subplots(nrows, ncols, squeeze=False)
    source = result.categories if result.categories is not None else pd.Series(dtype=object)
    cats = source.reindex(result.accuracies.index).fillna(UNCATEGORISED)
    styles = category_styles(cats)
    for ax, name in zip(axes.flat, names, strict=False):
        _panel(ax, result, name, styles, cats, placed)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    acc = result.accuracies
    drawn = acc.index[acc["imagenet_top1"].notna() & acc[names].notna().any(axis=1)]
    handles = legend_handles(cats[drawn]) + yours_handles(dict.fromkeys(placed["model"]))
    handles += [
        Line2D([], [], ls="", marker="o", mfc="white", mec=REFERENCE_EDGE, mew=1.2, label="reference model"),
        Line2D([], [], color=LINE_COLOR, label="line through the\nreference models"),
        *([Patch(color=LINE_COLOR, alpha=0.2, label="95 % bootstrap band")] if _has_band(result) else []),
        Patch(color="0.88", label="reference ID range"),
        Line2D([], [], color="grey", ls="--", label="y = x"),
    ]
    legend_right(fig, handles, title=f"reference: {result.reference_words()}".replace(" (", "\n("))
    return fig


def _has_band(result: EffectiveRobustness) -> bool:
    return any(len(fit.draws) for fit in result.lines.values())


def bias_er_panels(
    result: EffectiveRobustness, subset: str = "total", method: str = "spearman", correction: str = "holm",
    alpha: float = 0.05,
) -> Figure | None:  # fmt: skip
    """Bias x OOD-set heat-maps in the report's one convention (``plots.correlation.heatmap_panels``):
    ρ(bias, effective robustness) beside the partial ρ(bias, OOD accuracy | ImageNet top-1), coloured where
    significant after ``correction`` within each panel's family; † marks an OOD set whose line is unstable."""
    table = result.correlations
    if table.empty:
        return None
    table = table[table["benchmark"].isin(result.lines)]
    er = family_cells(table[table["target"] == ER_TARGET], subset, method)
    partial = family_cells(table[table["target"] == ACCURACY_TARGET], subset, method, ID_COLUMN)
    panels = [Panel(er, "ρ(bias, effective robustness)"),
              Panel(partial, "partial ρ(bias, OOD accuracy | ImageNet top-1)")]  # fmt: skip
    labels = {o.name: o.title + (" †" if o.name in result.unstable else "") for o in result.ood_sets}
    return heatmap_panels(panels, method=method, correction=correction, alpha=alpha, labels=labels)
