"""Correlation heat-maps (bias × score, bias × bias): one panel per model subset with a shared colour bar.

A cell is coloured by ρ only where ρ is significant after the multiple-testing correction; other cells are
grey and show ρ and its CI in grey with "n.s.", a "°" marking p < 0.05 before correction (the study's display
rule). Every cell carries its 95 % bootstrap CI when there is one; the text turns white on dark cells.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import Normalize, to_rgba
from matplotlib.figure import Figure  # pyplot-free: no global backend or figure state

from biasbench.analysis.correlation import wide
from biasbench.analysis.sentences import CORRECTIONS
from biasbench.analysis.specs import BIASES, SCORES

TITLES = {s.name: s.title for s in (*SCORES, *BIASES)}
SUBSET_TITLES = {"total": "all models", "at": "adversarially trained", "other": "all but adversarially trained"}
CMAP = "RdBu_r"
NOT_SIGNIFICANT = "#eeeeee"


def _text_color(rgba: tuple[float, ...]) -> str:
    luminance = 0.2126 * rgba[0] + 0.7152 * rgba[1] + 0.0722 * rgba[2]
    return "white" if luminance < 0.5 else "black"


def correlation_panels(
    table: pd.DataFrame,
    subsets: Sequence[str] = ("total",),
    *,
    method: str = "spearman",
    control: str = "none",
    correction: str = "holm",
    alpha: float = 0.05,
    cis: bool = True,
) -> Figure:
    """Rows × columns heat-map of ``table`` (``correlation_table`` output) per subset, side by side."""
    column = CORRECTIONS[correction][0]
    panels = [
        (s, *(wide(table, s, method, control, v) for v in ("rho", "p", column, "ci_low", "ci_high"))) for s in subsets
    ]
    rows, cols = panels[0][1].shape
    cell_w, cell_h = (0.82, 0.5) if cis else (0.6, 0.36)
    fig = Figure(figsize=(cell_w * cols * len(panels) + 2.4 + 0.9, cell_h * rows + 1.6), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    cmap, norm = colormaps[CMAP], Normalize(-1, 1)
    for ax, (subset, rho, p, adjusted, low, high) in zip(axes, panels, strict=True):
        sig = (adjusted < alpha).to_numpy()
        values = rho.to_numpy(float)
        colours = np.where(sig[..., None], cmap(norm(np.nan_to_num(values))), to_rgba(NOT_SIGNIFICANT))
        ax.imshow(colours, aspect="auto")
        for (i, j), value in np.ndenumerate(values):
            if np.isnan(value):
                ax.text(j, i, "–", ha="center", va="center", fontsize=8, color="#777777")
            elif sig[i, j]:
                ci = f"\n[{low.iat[i, j]:.2f}, {high.iat[i, j]:.2f}]" if cis and np.isfinite(low.iat[i, j]) else ""
                ax.text(
                    j,
                    i,
                    f"{value:.2f}{ci}",
                    ha="center",
                    va="center",
                    fontsize=7.5 if ci else 8,
                    fontweight="bold",
                    color=_text_color(colours[i, j]),
                )
            else:
                mark = "°" if p.iat[i, j] < alpha else ""
                ci = f"\n[{low.iat[i, j]:.2f}, {high.iat[i, j]:.2f}]" if cis and np.isfinite(low.iat[i, j]) else ""
                ax.text(j, i, f"{value:.2f} n.s.{mark}{ci}", ha="center", va="center", fontsize=7, color="#666666")
        ax.set_xticks(range(cols), [TITLES.get(c, c) for c in rho.columns], rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(rows), [TITLES.get(r, r) for r in rho.index], fontsize=8)
        ax.set_xticks(np.arange(cols + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", lw=1.5)
        ax.tick_params(which="minor", length=0)
        n = int(wide(table, subset, method, control, "n").max().max())
        ax.set_title(f"{SUBSET_TITLES.get(subset, subset)} (n = {n})", fontsize=9)
    mappable = fig.colorbar(
        _scalar_mappable(cmap, norm), ax=list(axes), fraction=0.03 if len(panels) > 1 else 0.06, pad=0.02
    )
    mappable.set_label(f"{method} ρ (coloured where {CORRECTIONS[correction][1]} p < {alpha:g})", fontsize=8)
    return fig


def _scalar_mappable(cmap, norm):
    from matplotlib.cm import ScalarMappable

    return ScalarMappable(norm=norm, cmap=cmap)
