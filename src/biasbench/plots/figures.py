"""Figures of the joint prediction (``explain``) and the model-vs-human comparison (``humans``), and ``save``,
which writes any figure as PNG + SVG and returns the PNG for embedding in the HTML report. Matplotlib, Agg
backend; each function returns a Figure. Placement figures (scatter rows, shape-bias bars) are in
``placement``, correlation heat-maps in ``correlation``, colours and markers in ``palette``."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: figures are files, never windows
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from biasbench.analysis.specs import BIASES, SCORES  # noqa: E402
from biasbench.plots.palette import (  # noqa: E402
    UNCATEGORISED,
    Style,
    category_styles,
    legend_handles,
    legend_right,
    yours_styles,
)

TITLES = {s.name: s.title for s in (*SCORES, *BIASES)}


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
    styles = category_styles(part["category"])
    fig, axes = plt.subplots(len(sets), len(targets), figsize=(3.0 * len(targets) + 1.6, 3.0 * len(sets)),
                             squeeze=False, layout="constrained")  # fmt: skip
    for r, features in enumerate(sets):
        for c, target in enumerate(targets):
            ax = axes[r, c]
            cell = part[(part["features"] == features) & (part["target"] == target)]
            for category, group in cell.groupby("category"):
                st = styles.get(category, styles[UNCATEGORISED])
                ax.scatter(group["y"], group["y_hat"], s=20, color=st.color, marker=st.marker, edgecolor=st.edge,
                           linewidth=0.4)  # fmt: skip
            lo, hi = np.nanmin(cell[["y", "y_hat"]].to_numpy()), np.nanmax(cell[["y", "y_hat"]].to_numpy())
            ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8, ls="--")
            row = summary[
                (summary["target"] == target) & (summary["features"] == features)
                & (summary["regressor"] == regressor) & (summary["scheme"] == scheme)
            ].iloc[0]  # fmt: skip
            ax.set_title(f"{TITLES.get(target, target)} ← {features}\nR² = {row['r2']:.2f}, p = {row['p_perm']:.3f}",
                         fontsize=9)  # fmt: skip
            ax.set_xlabel("true [%]", fontsize=8)
            ax.set_ylabel(f"predicted ({scheme.upper()}) [%]", fontsize=8)
    legend_right(fig, legend_handles(part["category"]))
    return fig


def shape_bias_by_category(per_category: pd.DataFrame, categories: pd.Series | None = None,
                           study: pd.Series | None = None, yours: Sequence[str] = ()) -> Figure | None:  # fmt: skip
    """model-vs-human's matrix plot: fraction of shape decisions per shape category (rows, ordered by the
    humans), humans (red diamonds) against each model (its category's colour and marker; ``yours``: stars,
    a colour each); vertical lines mark each observer's overall shape bias. ``study``: overall shape bias of a
    released study's models (model -> value; per-category decisions are not released), drawn as thin lines in
    their category's colour."""
    if per_category.empty:
        return None
    table = per_category.pivot(index="category", columns="observer", values="shape_bias")
    overall = table.loc["all"] if "all" in table.index else None
    table = table.drop(index="all", errors="ignore")
    if "humans" in table.columns:
        table = table.sort_values("humans")
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(table) + 1.6), layout="constrained")
    cats = (categories if categories is not None else pd.Series(dtype=str)).astype(object)
    models = [c for c in table.columns if c != "humans"]
    shown = [*models, *(study.index if study is not None else [])]
    styles = category_styles(cats.reindex(shown).fillna(UNCATEGORISED))
    handles = []
    if study is not None:
        study_cats = cats.reindex(study.index).fillna(UNCATEGORISED)
        for model, value in study.dropna().items():
            ax.axvline(value, color=styles[study_cats[model]].color, lw=0.7, alpha=0.6, zorder=1)
        handles += legend_handles(study_cats, line=True)
    y = np.arange(len(table))
    mine = yours_styles([m for m in models if m in yours])
    for model in models:
        st = mine.get(model) or styles[cats.get(model, UNCATEGORISED) if model in cats.index else UNCATEGORISED]
        label = st.label if model in mine else model
        points = ax.scatter(
            table[model],
            y,
            s=170 if model in mine else 36,
            marker=st.marker,
            color=st.color,
            edgecolor=st.edge,
            linewidth=0.6,
            label=label,
            zorder=3,
        )
        handles.append(points)
        if overall is not None:
            ax.axvline(overall[model], color=st.color, lw=1.6 if model in mine else 1.2, ls="-.", zorder=2)
    if "humans" in table.columns:
        handles.append(ax.scatter(table["humans"], y, s=60, marker="D", color="#c00000", label="humans", zorder=4))
        if overall is not None:
            ax.axvline(overall["humans"], color="#c00000", lw=1.4)
    ax.set_yticks(y, table.index)
    ax.set_xlim(0, 1)
    ax.set_xlabel("shape bias per category [fraction of shape decisions]; lines: overall shape bias")
    ax.grid(axis="y", ls=":", alpha=0.4)
    legend_right(fig, handles)
    return fig


def error_consistency_bars(summary: pd.DataFrame, styles: Mapping[str, Style] | None = None) -> Figure | None:
    """Mean error consistency κ with the human subjects per model and dataset, bars in each model's colour
    (``styles``); the dashed line is the human-vs-human ceiling."""
    if summary.empty:
        return None
    datasets = list(pd.unique(summary["dataset"]))
    n = int((summary["observer"] != "humans").groupby(summary["dataset"]).sum().max())
    size = (3.4 * len(datasets) + 2.6, 0.26 * n + 1.3)  # horizontal bars: long model names stay readable
    fig, axes = plt.subplots(1, len(datasets), figsize=size, squeeze=False, sharey=True, layout="constrained")
    for ax, dataset in zip(axes[0], datasets, strict=True):
        part = summary[summary["dataset"] == dataset]
        models = part[part["observer"] != "humans"]
        colours = [(styles or {})[m].color if m in (styles or {}) else "#4c72b0" for m in models["observer"]]
        edges = [(styles or {})[m].edge if m in (styles or {}) else "none" for m in models["observer"]]
        ax.barh(range(len(models)), models["kappa"], color=colours, edgecolor=edges)
        ax.set_yticks(range(len(models)), models["observer"], fontsize=7)
        ax.set_ylim(len(models) - 0.4, -0.6)
        human = part.loc[part["observer"] == "humans", "kappa"]
        if len(human):
            ax.axvline(float(human.iloc[0]), color="#c00000", ls="--", lw=1, label="humans vs humans")
        ax.axvline(0, color="grey", lw=0.6)
        ax.set_title(dataset, fontsize=9)
        ax.set_xlabel("error consistency κ", fontsize=8)
        ax.set_xlim(min(0.0, float(part["kappa"].min()) - 0.05), 1.0)
        ax.grid(axis="x", alpha=0.3)
    legend_right(fig, [Line2D([], [], color="#c00000", ls="--", label="humans vs humans")])
    return fig
