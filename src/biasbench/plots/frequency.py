"""Frequency figures from records: the spectral probe's ratio-to-clean curves (low-/high-pass panels, one
line per model) and the critical-band noise-sensitivity curve (threshold per band with the fitted Gaussian,
optionally next to the human channel of Subramanian et al.)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # pyplot-free: no global backend or figure state

from biasbench.core.errors import BiasbenchError
from biasbench.perturb.critical_band import BANDS, band_frequency
from biasbench.perturb.critical_band_fit import HUMAN_THRESHOLDS, fit_channel, gaussian


def _rows(records: pd.DataFrame, probe: str, metric: str) -> pd.DataFrame:
    rows = records[(records["probe"] == probe) & (records["metric"] == metric)].copy()
    if rows.empty:
        raise BiasbenchError(f"no '{metric}' records of probe '{probe}' to plot; run `biasbench run --probe {probe}`")
    rows["condition"] = rows["condition"].astype(str)
    return rows


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        fig.savefig(path, bbox_inches="tight")
    return fig


def spectral_figure(records: pd.DataFrame, path: str | Path | None = None) -> Figure:
    """Ratio of clean top-1 against the cut-off (% of the half spectrum), low-pass and high-pass panels."""
    rows = _rows(records, "spectral", "ratio_to_clean")
    parts = rows["condition"].str.split("/", expand=True)
    rows["filter"], rows["cutoff"] = parts[0], parts[1].astype(float) * 100
    fig = Figure(figsize=(10, 4))
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind, title in zip(axes, ("lowpass", "highpass"), ("Low-pass", "High-pass"), strict=True):
        for model, group in rows[rows["filter"] == kind].groupby("model", sort=True):
            group = group.sort_values("cutoff")
            ax.plot(group["cutoff"], group["value"], marker="o", label=str(model))
        ax.set_title(title)
        ax.set_xlabel("cut-off (%)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("ratio of clean accuracy")
    axes[1].legend(fontsize="small")
    return _save(fig, path)


def noise_sensitivity_figure(records: pd.DataFrame, path: str | Path | None = None, *, human: bool = True) -> Figure:
    """Threshold per band (dots) and the fitted Gaussian channel (line) per model against the band's
    frequency in cycles/image (log axis); ``human`` adds the human group channel (thresholds 0,0,0,0,2,2,0)."""
    rows = _rows(records, "critical-band", "threshold")
    rows["band"] = rows["condition"].str.split("/").str[1].astype(int)
    curves = {str(m): g.sort_values("band")["value"].to_numpy() for m, g in rows.groupby("model", sort=True)}
    if human:
        curves["human (Subramanian et al.)"] = np.asarray(HUMAN_THRESHOLDS, dtype=float)
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    fine = np.linspace(0, len(BANDS) - 1, 200)
    for name, thresholds in curves.items():
        dots = ax.plot([band_frequency(f) for f in BANDS], thresholds, "o", label=name)[0]
        fit = fit_channel(thresholds)
        if not fit.degenerate:
            ax.plot(
                band_frequency(fine),
                gaussian(fine, fit.amplitude, fit.mu, fit.sigma),
                color=dots.get_color(),
                linestyle="--" if name.startswith("human") else "-",
            )
    ax.set_xscale("log", base=2)
    ax.set_xticks([band_frequency(f) for f in BANDS], [f"{band_frequency(f):g}" for f in BANDS])
    ax.set_xlabel("spatial frequency (cycles/image)")
    ax.set_ylabel("noise sensitivity (threshold index 0-4)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)
