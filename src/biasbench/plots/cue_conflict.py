"""Cue-conflict figures across model families (Gavrikov et al., ICLR 2025): shape bias against cue accuracy, one
colour and marker per family, and the prompt search beside the neutral prompt; humans as a reference line."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

_MARKERS = "s^oDvP*Xh"
HUMAN_COLOR = "#000000"


def family_styles(families: list[str]) -> dict[str, tuple[str, str]]:
    """(colour, marker) per family, in the order given: tab10 colours, distinct markers."""
    palette = matplotlib.colormaps["tab10"].colors
    return {f: (matplotlib.colors.to_hex(palette[i % 10]), _MARKERS[i % len(_MARKERS)]) for i, f in enumerate(families)}


def _human_line(ax: Axes, human: float) -> Line2D | None:
    if math.isnan(human):
        return None
    ax.axvline(human, color=HUMAN_COLOR, ls="--", lw=1.2)
    return Line2D([], [], color=HUMAN_COLOR, ls="--", label=f"humans (model-vs-human), {human:.2f}")


def _axes(ax: Axes, accuracies: pd.Series) -> None:
    low = float(np.nanmin(accuracies)) if len(accuracies) else 0.0
    ax.set_xlim(0, 1)
    ax.set_ylim(max(0.0, math.floor((low - 0.05) * 10) / 10), 1)
    ax.set_xlabel("shape bias  (texture ← 0.5 → shape)")
    ax.set_ylabel("cue accuracy (shape or texture decision)")
    ax.axvline(0.5, color="grey", lw=0.6, ls=":")
    ax.grid(alpha=0.3)


def shape_bias_vs_accuracy(rows: pd.DataFrame, human: float = float("nan"), title: str = "") -> Figure:
    """Shape bias (x) against cue accuracy (y) of every row of ``rows`` (columns family, shape_bias,
    cue_accuracy; families keep their order of first appearance), with the human shape bias as a line."""
    families = list(dict.fromkeys(rows["family"]))
    styles = family_styles(families)
    fig = Figure(figsize=(8.2, 5))
    ax = fig.subplots()
    handles = []
    for family in families:
        part = rows[rows["family"] == family]
        color, marker = styles[family]
        ax.scatter(
            part["shape_bias"],
            part["cue_accuracy"],
            c=color,
            marker=marker,
            s=42,
            alpha=0.85,
            edgecolors="white",
            linewidths=0.5,
        )
        handles.append(Line2D([], [], ls="", marker=marker, color=color, label=f"{family} (n={len(part)})"))
    line = _human_line(ax, human)
    handles += [line] if line is not None else []
    _axes(ax, rows["cue_accuracy"])
    ax.set_title(title, fontsize=10)
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(0.74, 0.5), frameon=False, fontsize=8)
    fig.subplots_adjust(left=0.09, right=0.72, bottom=0.11, top=0.92)
    return fig


def steering_figure(steering: pd.DataFrame, human: float = float("nan"), min_accuracy: float | None = None) -> Figure:
    """One panel per searched model: shape bias (x) and cue accuracy (y) reached by each searched prompt,
    the model's neutral multiple-choice prompt as a star, humans as a line; ``min_accuracy`` as a dotted line."""
    models = sorted(steering["model"].unique())
    fig = Figure(figsize=(3.6 * len(models) + 2.6, 3.8))
    axes = np.atleast_1d(fig.subplots(1, len(models), sharey=True))
    color = matplotlib.colormaps["tab10"].colors[0]
    for ax, model in zip(axes, models, strict=True):
        part = steering[steering["model"] == model]
        ax.scatter(part["shape_bias"], part["accuracy"], s=16, color=color, alpha=0.6, edgecolors="none")
        ax.scatter(
            part["neutral_shape_bias"].iloc[:1],
            part["neutral_accuracy"].iloc[:1],
            marker="*",
            s=220,
            color="#ff7f0e",
            edgecolors="black",
            linewidths=0.6,
            zorder=3,
        )
        _human_line(ax, human)
        if min_accuracy is not None:
            ax.axhline(min_accuracy, color="grey", lw=0.8, ls=":")
        _axes(ax, steering["accuracy"])
        ax.set_title(f"{model} ({len(part)} prompts)", fontsize=9)
        if ax is not axes[0]:
            ax.set_ylabel("")
    handles = [
        Line2D([], [], ls="", marker="o", color=color, alpha=0.6, label="searched prompt"),
        Line2D(
            [], [], ls="", marker="*", markersize=12, color="#ff7f0e", markeredgecolor="black", label="neutral prompt"
        ),
    ]
    line = _human_line(axes[0], human)
    handles += [line] if line is not None else []
    if min_accuracy is not None:
        handles.append(Line2D([], [], color="grey", ls=":", label=f"accuracy {min_accuracy:.2f}"))
    fig.legend(
        handles=handles,
        loc="center left",
        bbox_to_anchor=(1 - 2.4 / fig.get_figwidth(), 0.5),
        frameon=False,
        fontsize=8,
    )
    fig.subplots_adjust(left=0.06, right=1 - 2.6 / fig.get_figwidth(), bottom=0.14, top=0.9, wspace=0.15)
    return fig
