"""Figures of the analysis: scores against biases, correlation heat-maps, shape-bias bars, condition curves,
the joint prediction (``explain``) and the model-vs-human comparison (``humans``). Matplotlib, Agg backend;
each function returns a Figure; ``save`` writes PNG + SVG, ``png_base64`` embeds one in the HTML report."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are files, never windows
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from biasbench.analysis.correlation import wide  # noqa: E402
from biasbench.analysis.specs import BIASES, SCORES  # noqa: E402

# Category colours of the study's plots (METHODS §6.3): tab10 in this order, the baseline black.
STUDY_CATEGORIES = (
    "stylized", "adversarial_training", "training_recipes", "freezing", "augmentation", "contrastive",
)  # fmt: skip
_MARKERS = "o^vsDP*Xhp<>"
_AT = re.compile(r"_(l2|linf)_eps([\d.]+)$")
TITLES = {s.name: s.title for s in (*SCORES, *BIASES)}


def category_colors(categories: pd.Series) -> dict[str, str]:
    """Colour per category: the study's tab10 assignment first, further categories after, baseline black."""
    palette = plt.get_cmap("tab10").colors
    names = list(STUDY_CATEGORIES) + sorted(set(categories.dropna()) - set(STUDY_CATEGORIES) - {"baseline"})
    colors = {name: matplotlib.colors.to_hex(palette[i % 10]) for i, name in enumerate(names)}
    colors["baseline"] = "#000000"
    return colors


def _marker(model: str, index_in_category: int) -> tuple[str, float]:
    """AT models: circle for L2, square for Linf, size grows with epsilon; others: distinct markers."""
    match = _AT.search(model)
    if match:
        return ("o" if match[1] == "l2" else "s"), 20 + 40 * (float(match[2]) + 1) / 5
    return _MARKERS[index_in_category % len(_MARKERS)], 36.0


def _png_bytes(fig: Figure, dpi: int = 100) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def save(fig: Figure, out_dir: str | Path, stem: str) -> tuple[list[Path], str]:
    """Write ``stem``.png and ``stem``.svg into ``out_dir``; returns both paths and the PNG as base64
    (rendered once, so embedding it in the report costs no second rendering)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = _png_bytes(fig)
    (out / f"{stem}.png").write_bytes(png)
    fig.savefig(out / f"{stem}.svg", bbox_inches="tight")
    return [out / f"{stem}.png", out / f"{stem}.svg"], base64.b64encode(png).decode("ascii")


def _legend(fig: Figure, categories: pd.Series, colors: dict[str, str]) -> None:
    present = [c for c in colors if c in set(categories)]
    handles = [plt.Line2D([], [], ls="", marker="o", color=colors[c], label=c) for c in present]
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 7), frameon=False, fontsize=8)


def scatter_row(bias: str, biases: pd.DataFrame, scores: pd.DataFrame, categories: pd.Series) -> Figure:
    """1 x 4 row: the bias (x) against ID / Robustness / Concepts / Adversarial (y), coloured by category."""
    benches = [s.name for s in SCORES]
    fig, axes = plt.subplots(1, len(benches), figsize=(4 * len(benches), 3.6), squeeze=False)
    cats = categories.reindex(biases.index).fillna("uncategorised")
    colors = category_colors(cats)
    colors.setdefault("uncategorised", "#888888")
    seen: dict[str, int] = {}
    for model in biases.index:
        marker, size = _marker(model, seen.get(cats[model], 0))
        seen[cats[model]] = seen.get(cats[model], 0) + 1
        for ax, bench in zip(axes[0], benches, strict=True):
            ax.scatter(biases.at[model, bias], scores.at[model, bench], s=size, marker=marker,
                       color=colors[cats[model]], edgecolor="white", linewidth=0.4)  # fmt: skip
    for ax, bench in zip(axes[0], benches, strict=True):
        ax.set_title(TITLES[bench])
        ax.set_xlabel(TITLES.get(bias, bias))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("Avg. Accuracy [%]")
    _legend(fig, cats, colors)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def correlation_heatmap(
    table: pd.DataFrame, subset: str, method: str = "spearman", control: str = "none", masked: bool = True
) -> Figure:
    """Bias x benchmark heat-map of rho (display-rule masked or raw), bootstrap CIs in the cells."""
    rho = wide(table, subset, method, control, "rho_masked" if masked else "rho")
    low, high = (wide(table, subset, method, control, v) for v in ("ci_low", "ci_high"))
    fig, ax = plt.subplots(figsize=(1.7 * rho.shape[1] + 2.5, 0.6 * rho.shape[0] + 1.5))
    ax.imshow(rho.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1)
    for (i, j), value in np.ndenumerate(rho.to_numpy(float)):
        ci = "" if np.isnan(low.iat[i, j]) else f"\n[{low.iat[i, j]:.2f}, {high.iat[i, j]:.2f}]"
        ax.text(j, i, f"{value:.2f}{ci}", ha="center", va="center", fontsize=7)
    ax.set_xticks(range(rho.shape[1]), [TITLES.get(c, c) for c in rho.columns], rotation=30, ha="right")
    ax.set_yticks(range(rho.shape[0]), [TITLES.get(r, r) for r in rho.index])
    kind = "masked p<0.05" if masked else "raw"
    ax.set_title(f"{method} ({kind}), subset {subset}" + ("" if control == "none" else f", partial | {control}"))
    fig.tight_layout()
    return fig


def shape_bias_bars(biases: pd.DataFrame, categories: pd.Series) -> Figure:
    """Horizontal bars of shape bias per model, coloured by category (humans ~0.96 for reference)."""
    values = biases["shape_bias"].dropna().sort_values()
    cats = categories.reindex(values.index).fillna("uncategorised")
    colors = category_colors(cats)
    colors.setdefault("uncategorised", "#888888")
    fig, ax = plt.subplots(figsize=(7, 0.22 * len(values) + 1.2))
    ax.barh(range(len(values)), values.to_numpy(), color=[colors[c] for c in cats])
    ax.set_yticks(range(len(values)), values.index, fontsize=7)
    ax.axvline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xlim(0, 1)
    ax.set_xlabel("shape bias (fraction of shape decisions)")
    fig.tight_layout()
    return fig


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
