"""Figures of effective robustness (``analysis.effective_robustness``): ID vs OOD accuracy per OOD set on the
fit's axes (logit by default) with the reference line, its bootstrap band and the reference models' ID range;
and the bias x OOD-set matrix of correlations with effective robustness beside the partial correlations."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from biasbench.analysis.effective_robustness import ID_COLUMN, EffectiveRobustness
from biasbench.analysis.line_fit import MAX_SLOPE_CI_WIDTH, get_transform
from biasbench.plots.correlation import TITLES
from biasbench.plots.palette import category_colors

# Accuracy ticks (percent), coarse to fine: the first list with at least three ticks inside the axis is used.
_TICK_LISTS = (
    (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98, 99, 99.5, 99.9),
    tuple(range(5, 100, 5)),
    tuple(range(1, 100)),
)
UNSTABLE_COLOR = "#c00000"
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


def _panel(ax, result: EffectiveRobustness, name: str, colors: dict[str, str], cats: pd.Series) -> None:
    t, fit = get_transform(result.transform), result.lines[name]
    acc = result.accuracies[[ID_COLUMN, name]].dropna() / 100
    tx, ty = t.forward(acc[ID_COLUMN].to_numpy()), t.forward(acc[name].to_numpy())
    shown = np.isfinite(tx) & np.isfinite(ty)
    xlim, ylim = _limits(tx[shown]), _limits(ty[shown])
    low, high = t.forward(np.array(fit.id_range))
    ax.axvspan(low, high, color="0.88", zorder=0)
    grid = np.linspace(*xlim, 200)
    if len(fit.draws):
        band_low, band_high = fit.band(t.inverse(grid))
        ax.fill_between(grid, t.forward(band_low), t.forward(band_high), color="tab:red", alpha=0.2, lw=0, zorder=1)
    ax.plot(grid, fit.slope * grid + fit.intercept, color="tab:red", lw=1.5, zorder=2)
    ax.plot(grid, grid, color="grey", lw=0.8, ls="--", zorder=1)
    reference = acc.index.isin(result.reference)
    for i, model in enumerate(acc.index):
        if not shown[i]:
            continue
        ax.scatter(tx[i], ty[i], color=colors[cats[model]], **_STYLE[bool(reference[i])])
    for axis, (lo, hi), setter in ((ax.xaxis, xlim, ax.set_xlim), (ax.yaxis, ylim, ax.set_ylim)):
        ticks = accuracy_ticks(lo, hi, result.transform)
        axis.set_ticks(t.forward(np.array(ticks) / 100), [f"{v:g}" for v in ticks])
        setter(lo, hi)
    slope = f"slope {fit.slope:.2f}"
    if len(fit.draws):
        slope += f" [{fit.slope_ci[0]:.2f}, {fit.slope_ci[1]:.2f}]"
    ax.set_title(f"{result.title(name)}\n{slope}", fontsize=9)
    if len(fit.draws) and not fit.stable:
        ax.text(0.03, 0.97, "unstable line", transform=ax.transAxes, va="top", fontsize=8, color=UNSTABLE_COLOR,
                fontweight="bold", bbox={"facecolor": "white", "edgecolor": UNSTABLE_COLOR, "pad": 2})  # fmt: skip
    ax.set_ylabel(f"{result.title(name)} top-1 [%]", fontsize=8)
    ax.set_xlabel(f"ImageNet top-1 [%], {result.transform} axis", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def line_scatter(result: EffectiveRobustness, ncols: int = 4) -> Figure | None:
    """ID vs OOD accuracy per OOD set on the fit's axes (accuracy tick labels): every model coloured by
    category, reference models ringed in black, the line with its bootstrap band, y = x dashed, and the
    reference models' ID range shaded (a narrow range gives an unstable line, flagged in red)."""
    names = list(result.lines)
    if not names:
        return None
    ncols = min(ncols, len(names))
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.4 * ncols, 3.3 * nrows + 0.8), squeeze=False)
    models = result.accuracies.index
    source = result.categories if result.categories is not None else pd.Series(dtype=object)
    cats = source.reindex(models).fillna("uncategorised")
    colors = category_colors(cats)
    colors.setdefault("uncategorised", "#888888")
    for ax, name in zip(axes.flat, names, strict=False):
        _panel(ax, result, name, colors, cats)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    handles = [plt.Line2D([], [], ls="", marker="o", color=colors[c], label=c) for c in colors if c in set(cats)]
    handles += [
        plt.Line2D([], [], ls="", marker="o", mfc="white", mec=REFERENCE_EDGE, mew=1.2, label="reference model"),
        plt.Line2D([], [], color="tab:red", label="line through the reference models"),
        *([Patch(color="tab:red", alpha=0.2, label="95 % bootstrap band")] if _has_band(result) else []),
        Patch(color="0.88", label="reference ID range"),
        plt.Line2D([], [], color="grey", ls="--", label="y = x"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), frameon=False, fontsize=8)
    fig.suptitle(f"Effective robustness: reference = {', '.join(_short(result.reference))}", fontsize=10)
    fig.tight_layout(rect=(0, 0.55 / (3.3 * nrows + 0.8), 1, 0.97))
    return fig


def _short(models: list[str], shown: int = 5) -> list[str]:
    return models if len(models) <= shown else [*models[: shown - 1], f"... ({len(models)} models)"]


def _has_band(result: EffectiveRobustness) -> bool:
    return any(len(fit.draws) for fit in result.lines.values())


def _stars(p: float, p_holm: float, alpha: float) -> str:
    return "**" if p_holm < alpha else "*" if p < alpha else ""


def bias_er_matrix(
    result: EffectiveRobustness, subset: str = "total", method: str = "spearman", alpha: float = 0.05
) -> Figure | None:
    """Bias x OOD-set heat-maps: rho(bias, effective robustness) beside the partial rho(bias, OOD accuracy |
    ImageNet top-1), shared colour bar; * p < alpha, ** Holm-adjusted p < alpha; dagger = unstable line."""
    table = result.side_by_side(subset, method)
    if table.empty:
        return None
    biases = list(dict.fromkeys(table["bias"]))
    oods = [o.name for o in result.ood_sets if o.name in set(table["ood"])]
    unstable = {o for o, fit in result.lines.items() if len(fit.draws) and not fit.stable}
    labels = [result.title(o) + (" †" if o in unstable else "") for o in oods]
    size = (2 * (0.85 * len(oods) + 1.8), 0.5 * len(biases) + 2.6)
    fig, axes = plt.subplots(1, 2, figsize=size, sharey=True, layout="constrained")
    for ax, suffix, title in (
        (axes[0], "_er", f"{method} ρ(bias, effective robustness)"),
        (axes[1], "_partial", f"partial {method} ρ(bias, OOD accuracy | ImageNet top-1)"),
    ):
        cell = lambda v, s=suffix: table.pivot(index="bias", columns="ood", values=v + s).reindex(biases)[oods]  # noqa: E731
        rho, p, holm = cell("rho"), cell("p"), cell("p_holm")
        image = ax.imshow(rho.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
        for (i, j), value in np.ndenumerate(rho.to_numpy(float)):
            if np.isfinite(value):
                text = f"{value:.2f}{_stars(p.iat[i, j], holm.iat[i, j], alpha)}"
                ax.text(
                    j, i, text, ha="center", va="center", fontsize=7, color="white" if abs(value) > 0.6 else "black"
                )
        ax.set_xticks(range(len(oods)), labels, rotation=35, ha="right", fontsize=8)
        ax.set_yticks(range(len(biases)), [TITLES.get(b, b) for b in biases], fontsize=8)
        ax.set_title(title, fontsize=9)
    n = int(table["n_er"].max())
    fig.colorbar(image, ax=axes, fraction=0.025, pad=0.02, label=f"{method} ρ (n = {n}, subset {subset})")
    fig.supxlabel(
        f"* p < {alpha:g};  ** Holm-adjusted p < {alpha:g} (family: all biases × OOD sets of one panel);  "
        f"† line not determined by the reference models (slope CI wider than {MAX_SLOPE_CI_WIDTH:g})",
        fontsize=7,
    )
    return fig
