"""Frequency figures from records: the spectral probe's ratio-to-clean curves (low-/high-pass panels, one
line per model) and the critical-band noise-sensitivity curve (threshold per band with the fitted Gaussian,
optionally next to the human channel of Subramanian et al.)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # pyplot-free: no global backend or figure state

from biasbench.analysis.specs import CRITICAL_BAND_CURVE, SPECTRAL_CURVE
from biasbench.core.channel_fit import (
    BANDS,
    HUMAN_THRESHOLDS,
    band_frequency,
    channel_parameters,
    fit_channel,
    gaussian,
)
from biasbench.core.errors import BiasbenchError
from biasbench.plots.palette import (
    TAB10,
    UNCATEGORISED,
    category_styles,
    legend_handles,
    legend_right,
    yours_handles,
    yours_styles,
)
from biasbench.store.conditions import Band, Filter
from biasbench.store.metrics import Metric


def _rows(records: pd.DataFrame, metric: Metric) -> pd.DataFrame:
    rows = metric.rows(records).copy()
    if rows.empty:
        raise BiasbenchError(
            f"no '{metric.metric}' records of probe '{metric.probe}' to plot; "
            f"run `biasbench run --probe {metric.probe}`"
        )
    rows["condition"] = rows["condition"].astype(str)
    return rows


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        fig.savefig(path, bbox_inches="tight")
    return fig


@dataclass(frozen=True)
class _Line:
    color: str
    marker: str
    face: str
    edge: str
    width: float
    z: int
    yours: bool = False


def _styles(models: list[str], categories: pd.Series | None, yours: Sequence[str]) -> dict[str, _Line]:
    """How each model's line is drawn: by category when ``categories`` are given (the user's models as thick
    lines with black-edged stars, a colour each), else one tab10 colour per model."""
    if categories is None:
        return {m: _Line(TAB10[i % 10], "o", TAB10[i % 10], "white", 1.6, 2) for i, m in enumerate(models)}
    styles = category_styles(categories.reindex(models).fillna(UNCATEGORISED))
    mine = yours_styles([m for m in models if m in yours])
    out = {}
    for m in models:
        if m in mine:
            st = mine[m]
            out[m] = _Line(st.color, st.marker, st.color, st.edge, 2.4, 5, True)
        else:
            st = styles[categories.get(m, UNCATEGORISED) if m in categories.index else UNCATEGORISED]
            out[m] = _Line(st.color, st.marker, st.color, st.edge, 0.9, 2)
    return out


def _legend(fig: Figure, axes, models: list[str], categories: pd.Series | None, yours: Sequence[str],
            extra: list | None = None) -> None:  # fmt: skip
    if categories is None:
        handles, labels = axes[0].get_legend_handles_labels()
        handles = [h for h, lab in zip(handles, labels, strict=True) if not lab.startswith("_")]
    else:
        present = categories.reindex([m for m in models if m not in yours]).fillna(UNCATEGORISED)
        handles = legend_handles(present, line=True) + yours_handles([m for m in models if m in yours], line=True)
    legend_right(fig, handles + (extra or []))


def spectral_figure(records: pd.DataFrame, path: str | Path | None = None, *, categories: pd.Series | None = None,
                    yours: Sequence[str] = ()) -> Figure:  # fmt: skip
    """Ratio of clean top-1 against the cut-off (% of the half spectrum), low-pass and high-pass panels, one
    line per model: coloured by category when ``categories`` are given (``yours``: bold lines with stars), else
    one colour per model. The legend stands right of the panels."""
    rows = _rows(records, SPECTRAL_CURVE)
    filters = [Filter.parse(c) for c in rows["condition"]]
    rows["filter"], rows["cutoff"] = [f.filter for f in filters], [f.cutoff * 100 for f in filters]
    models = sorted(rows["model"].astype(str).unique())
    styles = _styles(models, categories, yours)
    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind, title in zip(axes, ("lowpass", "highpass"), ("Low-pass", "High-pass"), strict=True):
        for model, group in rows[rows["filter"] == kind].groupby("model", sort=True):
            st = styles[str(model)]
            group = group.sort_values("cutoff")
            ax.plot(group["cutoff"], group["value"], marker=st.marker, ms=11 if st.yours else 4, lw=st.width,
                    color=st.color, markerfacecolor=st.face, markeredgecolor=st.edge, zorder=st.z,
                    label=str(model))  # fmt: skip
        ax.set_title(title)
        ax.set_xlabel("cut-off [% of the half spectrum]")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("top-1 / clean top-1")
    _legend(fig, axes, models, categories, yours)
    return _save(fig, path)


def noise_sensitivity_figure(
    records: pd.DataFrame | None,
    path: str | Path | None = None,
    *,
    human: bool = True,
    channels: pd.DataFrame | None = None,
    categories: pd.Series | None = None,
    yours: Sequence[str] = (),
) -> Figure:
    """Threshold per band (dots) and the fitted Gaussian channel (line) per model of ``records`` against the
    band's frequency in cycles/image (log axis); ``human`` adds the human group channel (thresholds
    0,0,0,0,2,2,0, dashed). ``channels`` (model × bandwidth, center_frequency, peak_noise_sensitivity) adds
    the channels of a released study, redrawn from their published parameters as thin lines by category. A
    model whose fit failed keeps its dots, and its legend entry says why."""
    curves = {}
    if records is not None:
        rows = _rows(records, CRITICAL_BAND_CURVE)
        rows["band"] = [Band.parse(c).band for c in rows["condition"]]
        curves = {str(m): g.sort_values("band")["value"].to_numpy() for m, g in rows.groupby("model", sort=True)}
    if human:
        curves[HUMAN] = np.asarray(HUMAN_THRESHOLDS, dtype=float)
    fig = Figure(figsize=(7.5 if channels is None else 9, 4.2), layout="constrained")
    ax = fig.subplots()
    fine = np.linspace(-0.5, len(BANDS) - 0.5, 200)
    extra = []
    if channels is not None:
        cats = (categories if categories is not None else pd.Series(dtype=str)).reindex(channels.index)
        styles = category_styles(cats.fillna(UNCATEGORISED))
        for model, row in channels.dropna().iterrows():
            a, mu, s = channel_parameters(row["bandwidth"], row["center_frequency"], row["peak_noise_sensitivity"])
            style = styles[cats.get(model) if isinstance(cats.get(model), str) else UNCATEGORISED]
            ax.plot(band_frequency(fine), gaussian(fine, a, mu, s), color=style.color, lw=0.8, alpha=0.6)
        extra = legend_handles(cats.dropna(), line=True)
    styles = _styles([m for m in curves if m != HUMAN], categories if channels is not None else None, yours)
    for name, thresholds in curves.items():
        st = styles.get(name, _Line("#c00000", "o", "#c00000", "#c00000", 1.6, 6))
        fit = fit_channel(thresholds)
        label = name + (" (yours)" if st.yours else "") + ("" if not fit.degenerate else f": fit failed ({fit.reason})")
        ax.plot([band_frequency(f) for f in BANDS], thresholds, st.marker, ls="", color=st.color,
                markerfacecolor=st.face, markeredgecolor=st.edge, ms=12 if st.yours else 6, label=_wrap(label),
                zorder=st.z + 1)  # fmt: skip
        if not fit.degenerate:
            ax.plot(band_frequency(fine), gaussian(fine, fit.amplitude, fit.mu, fit.sigma), color=st.color,
                    linestyle="--" if name == HUMAN else "-", lw=max(st.width, 1.5), zorder=st.z)  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xticks([band_frequency(f) for f in BANDS], [f"{band_frequency(f):g}" for f in BANDS])
    ax.set_xlabel("spatial frequency [cycles/image]")
    ax.set_ylabel("noise sensitivity [threshold index 0-4]")
    ax.set_ylim(-0.2, 4.6)
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    legend_right(fig, [h for h, lab in zip(handles, labels, strict=True) if not lab.startswith("_")] + extra)
    return _save(fig, path)


HUMAN = "human (Subramanian et al.)"


def _wrap(text: str, width: int = 48) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
