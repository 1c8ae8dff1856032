"""Heat-map of the Spearman matrix over ImageNet accuracy, robustness metrics and transfer (Djolonga et al.)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402


def rho_heatmap(matrix: pd.DataFrame) -> Figure:
    """Symmetric ρ matrix as a diverging heat-map (−1 blue … +1 red), values written in the cells."""
    n = len(matrix)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.8 + 0.5 * n))
    image = ax.imshow(matrix.to_numpy(float), cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(n), matrix.columns, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), matrix.index, fontsize=7)
    for (i, j), value in np.ndenumerate(matrix.to_numpy(float)):
        if np.isfinite(value):
            ax.text(
                j,
                i,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=6,
                color="white" if abs(value) > 0.6 else "black",
            )  # readable on dark cells
    fig.colorbar(image, ax=ax, shrink=0.8, label="Spearman ρ")
    fig.tight_layout()
    return fig
