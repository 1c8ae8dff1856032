"""Figures that place models among each other: scatter rows of a bias against the four scores, shape-bias
bars, and the strip chart of every measurement with the user's models among a released study's.

Models are drawn in their category's style (``palette``); the user's models placed in a study's context
(``yours``: rows of ``analysis.context.Placement.table``) are black-edged stars, one colour per model, "≈"
marking values measured on other or fewer images than the study's. A bias without a comparable score is a
dotted line at its value; a measurement that is not comparable is never drawn, its panel says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # pyplot-free: no global backend or figure state
from matplotlib.lines import Line2D

from biasbench.analysis.specs import SCORES, UNITS, DeclaredText
from biasbench.plots.palette import (
    UNCATEGORISED,
    YOURS_COLOR,
    category_styles,
    legend_handles,
    legend_right,
    yours_handles,
    yours_styles,
)

TITLES = DeclaredText(lambda b: b.title, lambda s: s.title, {"imagenet_top1": "ImageNet top-1"})
DIRECTIONS = DeclaredText(lambda b: b.direction, lambda s: "more images right", {"imagenet_top1": "more images right"})
PLACED = ("same", "approximate")


def axis_label(name: str) -> str:
    """``Title [unit]`` of a score, bias or ImageNet top-1."""
    return f"{TITLES.get(name, name)} [{UNITS[name]}]" if name in UNITS else name


def _models(yours: pd.DataFrame | None) -> list[str]:
    return [] if yours is None or yours.empty else list(dict.fromkeys(yours["model"]))


def _placed(yours: pd.DataFrame | None, measurement: str) -> pd.DataFrame:
    if yours is None or yours.empty:
        return pd.DataFrame(columns=["model", "value", "ci_low", "ci_high", "status"]).set_index("model")
    rows = yours[(yours["measurement"] == measurement) & yours["status"].isin(PLACED)]
    return rows.set_index("model")


def _star(ax, x: float, y: float, style, size: float = 170) -> None:
    ax.scatter(x, y, s=size, marker=style.marker, color=style.color, edgecolor=style.edge, linewidth=0.8, zorder=5)


def scatter_row(
    bias: str, biases: pd.DataFrame, scores: pd.DataFrame, categories: pd.Series, yours: pd.DataFrame | None = None
) -> Figure:
    """1 × 4 row: ``bias`` (x) against ID / Robustness / Concepts / Adversarial (y), one colour and marker per
    category; with ``yours``, the user's models where both values are placed (else a dotted line at the bias)."""
    benches = [s.name for s in SCORES]
    fig = Figure(figsize=(3.2 * len(benches) + 2.2, 3.1), layout="constrained")
    axes = fig.subplots(1, len(benches), squeeze=False)[0]
    cats = categories.reindex(biases.index).fillna(UNCATEGORISED)
    styles, mine = category_styles(cats), yours_styles(_models(yours))
    x_yours = _placed(yours, bias)
    lines = False
    for ax, bench in zip(axes, benches, strict=True):
        for category, models in cats.groupby(cats, sort=False):
            s = styles[category]
            ax.scatter(biases.loc[models.index, bias], scores.reindex(models.index)[bench], s=28, marker=s.marker,
                       color=s.color, edgecolor=s.edge, linewidth=0.4)  # fmt: skip
        y_yours = _placed(yours, bench)
        for model, row in x_yours.iterrows():
            if model in y_yours.index:
                _star(ax, row["value"], y_yours.at[model, "value"], mine[model])
                approximate = "approximate" in (row["status"], y_yours.at[model, "status"])
                if approximate:
                    ax.annotate("≈", (row["value"], y_yours.at[model, "value"]), xytext=(6, 4),
                                textcoords="offset points", fontsize=9)  # fmt: skip
            else:
                ax.axvline(row["value"], color=mine[model].color, ls=":", lw=1.6)
                lines = True
        ax.set_title(TITLES[bench], fontsize=9)
        ax.set_xlabel(axis_label(bias), fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("score [%]", fontsize=8)
    handles = legend_handles(cats) + yours_handles(x_yours.index)
    if lines:
        handles.append(Line2D([], [], color="#555555", ls=":", label="your bias value, no comparable score"))
    legend_right(fig, handles)
    return fig


def shape_bias_bars(
    values: pd.Series, categories: pd.Series, yours: pd.DataFrame | None = None, human: float | None = None
) -> Figure:
    """Horizontal bars of shape bias per model (sorted), coloured by category; the user's placed models in
    their own colours with a black edge and a bold name; ``human`` (the observers' value) as a red dashed line."""
    fig = bias_bars(values, categories, "shape_bias", yours, human)
    ax = fig.axes[0]
    ax.axvline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlim(0, 1)
    ax.set_xlabel("shape bias [fraction of shape decisions among shape or texture decisions]", fontsize=8)
    return fig


def bias_bars(
    values: pd.Series,
    categories: pd.Series,
    name: str,
    yours: pd.DataFrame | None = None,
    human: float | None = None,
) -> Figure:
    """Horizontal bars of the bias ``name`` per model (sorted), coloured by category, its declared title, unit
    and direction on the axis; the user's placed models in their own colours with a black edge and a bold
    name; ``human`` (the observers' value) as a red dashed line."""
    placed = _placed(yours, name)
    mine = yours_styles(placed.index)
    bars = pd.concat([values.dropna(), placed["value"]]).sort_values()
    cats = categories.reindex(bars.index).fillna(UNCATEGORISED)
    styles = category_styles(cats)
    colours = [mine[m].color if m in mine else styles[c].color for m, c in zip(bars.index, cats, strict=True)]
    fig = Figure(figsize=(7.5, 0.2 * len(bars) + 1.3), layout="constrained")
    ax = fig.subplots()
    ax.barh(range(len(bars)), bars.to_numpy(), color=colours,
            edgecolor=[YOURS_COLOR if m in mine else "none" for m in bars.index], linewidth=1.0)  # fmt: skip
    labels = [("≈ " if m in mine and placed.at[m, "status"] == "approximate" else "") + m for m in bars.index]
    ax.set_yticks(range(len(bars)), labels, fontsize=7)
    for tick, model in zip(ax.get_yticklabels(), bars.index, strict=True):
        if model in mine:
            tick.set_fontweight("bold")
    ax.set_ylim(-0.6, len(bars) - 0.4)
    handles = legend_handles(cats[~bars.index.isin(placed.index)]) + yours_handles(placed.index)
    if human is not None:
        ax.axvline(human, color="#c00000", ls="--", lw=1)
        handles.append(Line2D([], [], color="#c00000", ls="--", label=f"humans ({human:.2f})"))
    ax.set_xlabel(f"{axis_label(name)}; higher = {DIRECTIONS.get(name, '')}", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    legend_right(fig, handles)
    return fig


def placement_figure(
    study: pd.DataFrame, categories: pd.Series, yours: pd.DataFrame, *, columns: int = 3, study_label: str = "study"
) -> Figure:
    """One panel per measurement (``yours``' order): the study's models as dots, one row per category, and
    the user's models above them as stars with their CI and rank; a not-comparable measurement says so."""
    measurements = list(dict.fromkeys(yours["measurement"]))
    cats = categories.reindex(study.index).fillna(UNCATEGORISED)
    styles = category_styles(cats)
    order = [c for c in styles if c in set(cats)]
    models = _models(yours)
    mine = yours_styles(models)
    rows_per_panel = len(order) + len(models)
    n_rows = int(np.ceil(len(measurements) / columns))
    fig = Figure(figsize=(3.9 * columns + 2.4, (0.24 * rows_per_panel + 1.0) * n_rows), layout="constrained")
    axes = fig.subplots(n_rows, columns, squeeze=False)
    labels = [c.replace("_", " ") for c in order] + models
    for k, ax in enumerate(axes.ravel()):
        if k >= len(measurements):
            ax.set_visible(False)
            continue
        name = measurements[k]
        for i, category in enumerate(order):
            values = study.loc[cats[cats == category].index, name].dropna()
            s = styles[category]
            ax.scatter(values, np.full(len(values), i), s=26, marker=s.marker, color=s.color, edgecolor=s.edge,
                       linewidth=0.4)  # fmt: skip
        for j, model in enumerate(models):
            y = len(order) + j
            row = yours[(yours["model"] == model) & (yours["measurement"] == name)].iloc[0]
            if row["status"] in PLACED:
                if np.isfinite(row["ci_low"]):
                    ax.plot([row["ci_low"], row["ci_high"]], [y, y], color=YOURS_COLOR, lw=1.2)
                _star(ax, row["value"], y, mine[model], 190)
                text = ("≈ " if row["status"] == "approximate" else "") + f"#{int(row['rank'])}"
                ax.annotate(text, (row["value"], y), xytext=(7, -3), textcoords="offset points", fontsize=7.5)
            else:
                ax.text(0.5, y, "not comparable", transform=ax.get_yaxis_transform(), ha="center", va="center",
                        fontsize=7.5, color="#777777", style="italic")  # fmt: skip
        ax.set_yticks(range(rows_per_panel), labels if k % columns == 0 else [""] * rows_per_panel, fontsize=8)
        for tick in ax.get_yticklabels()[len(order) :]:
            tick.set_fontweight("bold")
        ax.set_ylim(rows_per_panel - 0.4, -0.6)
        ax.axhline(len(order) - 0.5, color="#bbbbbb", lw=0.8)
        ax.set_title(axis_label(name), fontsize=9)
        ax.margins(x=0.14)  # room for the rank labels right of the stars
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
    handles = legend_handles(cats) + yours_handles(models)
    legend_right(fig, handles, title=f"{study_label}: dots\nyours: stars, #rank of {len(study) + 1}")
    return fig
