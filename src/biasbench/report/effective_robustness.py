"""The effective-robustness section of a report: its tables, figures and notes, and writing them to a folder
(CSVs beside the figures as PNG + SVG). Used by ``reproduce gavrikov2024`` and ``biasbench effective-robustness``."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from biasbench.analysis.effective_robustness import EffectiveRobustness
from biasbench.plots import figures
from biasbench.plots.effective_robustness import bias_er_matrix, line_scatter


@dataclass
class EffectiveRobustnessSection:
    """What a report shows of an ``EffectiveRobustness``: named tables, figure builders (called when drawn)
    and notes, warnings of unstable lines first."""

    result: EffectiveRobustness
    title: str = "Effective robustness (Taori et al., NeurIPS 2020)"

    def tables(self) -> dict[str, pd.DataFrame]:
        """CSV stem -> table: per-model ER, the lines, the tidy correlations and ER beside the partial ones."""
        r = self.result
        return {
            "effective_robustness": r.per_model,
            "effective_robustness_lines": r.fits,
            "effective_robustness_correlations": r.correlations,
            "effective_robustness_vs_partial": r.side_by_side(),
        }

    def figures(self) -> dict[str, Callable[[], Figure | None]]:
        """Figure stem -> builder: the ID-vs-OOD lines and the bias x OOD-set correlation matrix."""
        return {
            "effective_robustness_lines": partial(line_scatter, self.result),
            "bias_vs_effective_robustness": partial(bias_er_matrix, self.result),
        }

    @property
    def notes(self) -> list[str]:
        return [*self.result.warnings, *self.result.notes]

    def write(self, out: str | os.PathLike[str], figures_dir: str = "figures") -> list[Path]:
        """Write the tables as ``out/<stem>.csv`` and the figures as ``out/<figures_dir>/<stem>.{png,svg}``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for stem, table in self.tables().items():
            if not table.empty:
                table.to_csv(out / f"{stem}.csv", index=False)
                written.append(out / f"{stem}.csv")
        for stem, build in self.figures().items():
            fig = build()
            if fig is not None:
                written += figures.save(fig, out / figures_dir, stem)[0]
                plt.close(fig)
        return written
