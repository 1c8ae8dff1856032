"""Figures like the paper's: ID/OOD loss and core/background projections over training, per config;
background projection across configs; and the analogue's probe accuracies. PNG and SVG each."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure  # the object API: no pyplot state, no global backend switch

from biasbench.plots.figures import save


def plot_contamination(curves: pd.DataFrame, distill: pd.DataFrame, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write every figure the experiment's summary tables support to ``out_dir`` (PNG + SVG); return the paths.
    ``curves`` and ``distill`` are ``experiments.contamination.summary.training_curves`` / ``distill_table``."""
    written: list[Path] = []
    for config, frame in curves.groupby("config"):
        written += save(_config_figure(str(config), frame), out_dir, str(config))[0]
    if curves["config"].nunique() > 1:
        written += save(_comparison_figure(curves), out_dir, "background_by_config")[0]
    if not distill.empty:
        written += save(_distill_figure(distill), out_dir, "distill_probe")[0]
    return written


def _band(ax: Axes, frame: pd.DataFrame, metric: str, label: str, color: str) -> None:
    """Mean over seeds against step, with the min–max range over seeds shaded."""
    stats = frame[frame["metric"] == metric].groupby("step")["value"].agg(["mean", "min", "max"])
    ax.plot(stats.index, stats["mean"], color=color, label=label)
    ax.fill_between(stats.index, stats["min"], stats["max"], color=color, alpha=0.2, linewidth=0)


def _config_figure(config: str, frame: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(10, 4), layout="constrained")
    losses, norms = fig.subplots(1, 2)
    _band(losses, frame, "id_loss", "ID loss", "tab:blue")
    _band(losses, frame, "ood_loss", "OOD loss (background shifted)", "tab:red")
    losses.set(xlabel="training step", ylabel="loss", title="(a) ID vs OOD loss")
    losses.set_yscale("log")  # zero hinge losses are masked; the decades near 0 are what matter
    _band(norms, frame, "core_norm", "core", "tab:green")
    _band(norms, frame, "background_norm", "background", "tab:orange")
    norms.set(xlabel="training step", ylabel="mean projection norm", title="(b) first-layer weights on features")
    for ax in (losses, norms):
        ax.legend()
        ax.grid(alpha=0.3)
    fig.suptitle(f"feature contamination: {config} ({frame['seed'].nunique()} seeds)")
    return fig


def _comparison_figure(curves: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.subplots()
    colors = [f"C{i}" for i in range(10)]
    for i, (config, frame) in enumerate(curves.groupby("config")):
        _band(ax, frame, "background_norm", str(config), colors[i % len(colors)])
    ax.set(xlabel="training step", ylabel="mean background projection norm", title="background projection")
    ax.legend()
    ax.grid(alpha=0.3)
    return fig


def _distill_figure(table: pd.DataFrame) -> Figure:
    fig = Figure(figsize=(max(5, 1.8 * len(table)), 4), layout="constrained")
    ax = fig.subplots()
    bars = [c for c in table.columns if "probe acc" in c]
    width = 0.8 / len(bars)
    for i, column in enumerate(bars):
        ax.bar([x + i * width for x in range(len(table))], table[column], width, label=column)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(table))], table.index)
    ax.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set(ylim=(0, 1.05), ylabel="linear-probe accuracy", title="distillation: teacher vs student, ID vs OOD")
    ax.legend(fontsize="small")
    return fig
