"""Figures of the analysis (matplotlib, Agg backend). Each function returns a Figure; ``save`` writes
PNG + SVG, ``png_base64`` embeds one in the HTML report."""

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
from biasbench.analysis.criticality import layer_labels  # noqa: E402
from biasbench.analysis.scores import normalise_records  # noqa: E402
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


def png_base64(fig: Figure) -> str:
    """The figure as a base64 PNG (for ``<img src="data:image/png;base64,...">``)."""
    return base64.b64encode(_png_bytes(fig)).decode("ascii")


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


def condition_curves(records: pd.DataFrame, probe: str, metric: str, prefixes: tuple[str, ...]) -> Figure | None:
    """One panel per condition prefix: value against the number after it (e.g. ``lowpass/0.3``), a line per
    model. Returns None when no record matches."""
    records = normalise_records(records)
    rows = records[(records["probe"] == probe) & (records["metric"] == metric)]
    panels = [(p, rows[rows["condition"].str.startswith(p)]) for p in prefixes]
    panels = [(p, r) for p, r in panels if len(r)]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (prefix, part) in zip(axes[0], panels, strict=True):
        part = part.assign(x=part["condition"].str[len(prefix) :].astype(float))
        for model, curve in part.groupby("model"):
            curve = curve.groupby("x")["value"].mean()
            ax.plot(curve.index, curve.to_numpy(), marker=".", lw=1, label=model)
        ax.set_title(f"{probe}: {prefix.rstrip('/')}")
        ax.set_xlabel(prefix.rstrip("/") + " parameter")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    if rows["model"].nunique() <= 12:
        axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def criticality_heatmap(matrix: pd.DataFrame, categories: pd.Series) -> Figure:
    """Model x layer criticality heat-map (percent), rows grouped by category with separators."""
    fig, ax = plt.subplots(figsize=(0.22 * matrix.shape[1] + 4, 0.2 * matrix.shape[0] + 2))
    image = ax.imshow(matrix.to_numpy(float), cmap="viridis", vmin=0, vmax=100, aspect="auto")
    ax.set_xticks(range(matrix.shape[1]), layer_labels(list(matrix.columns)), rotation=90, fontsize=6)
    ax.set_yticks(range(matrix.shape[0]), [f"{m} ({categories[m]})" for m in matrix.index], fontsize=6)
    boundaries = np.flatnonzero(categories.to_numpy()[1:] != categories.to_numpy()[:-1])
    for b in boundaries:
        ax.axhline(b + 0.5, color="white", lw=1)
    fig.colorbar(image, ax=ax, label="criticality [%]")
    fig.tight_layout()
    return fig


def criticality_vs_accuracy(model_mean: pd.DataFrame, top1: pd.Series) -> Figure:
    """Model-average criticality against ImageNet top-1, coloured by category."""
    frame = model_mean.set_index("model").join(top1.rename("top1")).dropna()
    colors = category_colors(frame["category"])
    colors.setdefault("uncategorised", "#888888")
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for category, part in frame.groupby("category"):
        ax.scatter(part["top1"], part["mean_criticality"], color=colors[category], label=category, s=25)
    ax.set_xlabel("ImageNet top-1 [%]")
    ax.set_ylabel("average criticality [%]")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
