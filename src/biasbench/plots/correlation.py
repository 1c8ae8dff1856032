"""Correlation heat-maps (bias × score, bias × bias, bias × effective robustness, bias × failure factor): side-by-side
panels (one per model subset, or per control or target) with a shared colour bar.

A cell is coloured by ρ only where ρ is significant after the multiple-testing correction; other cells are
grey and show ρ and its CI in grey with "n.s.", a "°" marking p < 0.05 before correction (the study's display
rule). Every cell carries its 95 % bootstrap CI when there is one; the text turns white on dark cells.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import Normalize, to_rgba
from matplotlib.figure import Figure  # pyplot-free: no global backend or figure state

from biasbench.analysis.correlation import family_cells
from biasbench.analysis.sentences import CORRECTIONS
from biasbench.analysis.specs import BIASES, SCORES

TITLES = {s.name: s.title for s in (*SCORES, *BIASES)}
SUBSET_TITLES = {"total": "all models", "at": "adversarially trained", "other": "all but adversarially trained"}
CMAP = "RdBu_r"
NOT_SIGNIFICANT = "#eeeeee"


def _text_color(rgba: tuple[float, ...]) -> str:
    luminance = 0.2126 * rgba[0] + 0.7152 * rgba[1] + 0.0722 * rgba[2]
    return "white" if luminance < 0.5 else "black"


@dataclass(frozen=True)
class Panel:
    """One heat-map panel: the cells of one correction family (one subset, method and control of a
    ``correlation_table``) and its title; ``n`` in the title is the largest number of models of a cell."""

    cells: pd.DataFrame
    title: str


def correlation_panels(
    table: pd.DataFrame,
    subsets: Sequence[str] = ("total",),
    *,
    method: str = "spearman",
    control: str = "none",
    correction: str = "holm",
    alpha: float = 0.05,
    cis: bool = True,
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """Rows × columns heat-map of ``table`` (``correlation_table`` output) per subset, side by side (``labels``
    name rows and columns beyond the scores and biases)."""
    panels = [Panel(family_cells(table, s, method, control), SUBSET_TITLES.get(s, s)) for s in subsets]
    return heatmap_panels(panels, method=method, correction=correction, alpha=alpha, cis=cis, labels=labels)


def heatmap_panels(
    panels: Sequence[Panel],
    *,
    method: str = "spearman",
    correction: str = "holm",
    alpha: float = 0.05,
    cis: bool = True,
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """The report's one heat-map convention for any side-by-side families of correlation cells (per subset,
    per control, per target): biases as rows, the other variable as columns (``labels`` name them, else the
    score and bias titles), one shared colour bar."""
    labels = {**TITLES, **(labels or {})}
    column = CORRECTIONS[correction][0]
    shown = [(p.title, *(_matrix(p.cells, v) for v in ("rho", "p", column, "ci_low", "ci_high", "n"))) for p in panels]
    rows, cols = shown[0][1].shape
    cell_w, cell_h = (0.82, 0.5) if cis else (0.6, 0.36)
    fig = Figure(figsize=(cell_w * cols * len(shown) + 2.4 + 0.9, cell_h * rows + 1.6), layout="constrained")
    axes = fig.subplots(1, len(shown), squeeze=False, sharey=True)[0]
    cmap, norm = colormaps[CMAP], Normalize(-1, 1)
    for ax, (title, rho, p, adjusted, low, high, n) in zip(axes, shown, strict=True):
        sig = (adjusted < alpha).to_numpy()
        values = rho.to_numpy(float)
        colours = np.where(sig[..., None], cmap(norm(np.nan_to_num(values))), to_rgba(NOT_SIGNIFICANT))
        ax.imshow(colours, aspect="auto")
        for (i, j), value in np.ndenumerate(values):
            ci = f"\n[{low.iat[i, j]:.2f}, {high.iat[i, j]:.2f}]" if cis and np.isfinite(low.iat[i, j]) else ""
            if np.isnan(value):
                ax.text(j, i, "–", ha="center", va="center", fontsize=8, color="#777777")
            elif sig[i, j]:
                ax.text(j, i, f"{value:.2f}{ci}", ha="center", va="center", fontsize=7.5 if ci else 8,
                        fontweight="bold", color=_text_color(colours[i, j]))  # fmt: skip
            else:
                mark = "°" if p.iat[i, j] < alpha else ""
                ax.text(j, i, f"{value:.2f} n.s.{mark}{ci}", ha="center", va="center", fontsize=7, color="#666666")
        ax.set_xticks(range(cols), [labels.get(c, c) for c in rho.columns], rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(rows), [labels.get(r, r) for r in rho.index], fontsize=8)
        ax.set_xticks(np.arange(cols + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", lw=1.5)
        ax.tick_params(which="minor", length=0)
        ax.set_title(textwrap.fill(f"{title} (n = {int(n.max().max())})", max(22, 11 * cols)), fontsize=9)
    mappable = fig.colorbar(
        _scalar_mappable(cmap, norm), ax=list(axes), fraction=0.03 if len(shown) > 1 else 0.06, pad=0.02
    )
    mappable.set_label(f"{method} ρ (coloured where {CORRECTIONS[correction][1]} p < {alpha:g})", fontsize=8)
    return fig


def _matrix(cells: pd.DataFrame, value: str) -> pd.DataFrame:
    """One value of a family's cells as a bias × column matrix, rows and columns in first-seen order."""
    matrix = cells.pivot(index="bias", columns="benchmark", values=value)
    return matrix.reindex(index=list(dict.fromkeys(cells["bias"])), columns=list(dict.fromkeys(cells["benchmark"])))


def _scalar_mappable(cmap, norm):
    from matplotlib.cm import ScalarMappable

    return ScalarMappable(norm=norm, cmap=cmap)
