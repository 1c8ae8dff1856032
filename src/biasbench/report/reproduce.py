"""Reproductions from the authors' released data, through the same code that analyses biasbench results.

- ``gavrikov2024``: Gavrikov & Keuper, "Can Biases in ImageNet Models Explain Generalization?" (CVPR 2024)
- ``layer-criticality``: Gavrikov, Agnihotri, Keuper & Keuper, "How Do Training Methods Influence the
  Utilization of Vision Models?" (NeurIPS 2024 IAI workshop)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from biasbench.analysis.context import gavrikov2024_analysis
from biasbench.analysis.correlation import TABLE_COLUMNS, wide
from biasbench.analysis.criticality import CriticalityAnalysis, analyse_criticality, imagenet_top1
from biasbench.analysis.effective_robustness import DEFAULT_REFERENCE, EffectiveRobustness
from biasbench.analysis.humans import HumanData
from biasbench.analysis.pipeline import Analysis
from biasbench.analysis.released import (
    CATEGORIES_FILE,
    LAYER_CRITICALITY,
    criticality_records,
    read_categories,
    released_dir,
)
from biasbench.core.errors import DatasetError
from biasbench.plots import figures
from biasbench.plots.criticality import criticality_heatmap, criticality_vs_accuracy
from biasbench.report.html import FIGURES_DIR, write_report
from biasbench.report.sections.effective_robustness import write_effective_robustness

CORRELATION_COLUMNS = list(TABLE_COLUMNS)


@dataclass
class Gavrikov2024:
    analysis: Analysis
    tables: dict[str, pd.DataFrame]  # the study's masked Spearman tables: total / at / other
    bias_bias: pd.DataFrame
    effective_robustness: EffectiveRobustness | None = None


def reproduce_gavrikov2024(
    data: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    methods: Sequence[str] = ("spearman", "kendall", "pearson"),
    n_perm: int = 1000,
    reference: str | Sequence[str] = DEFAULT_REFERENCE,
) -> Gavrikov2024:
    """Scores, biases and masked Spearman tables (Total / AT / Other) of the 48 ResNet-50s from the
    released ``benchmark.csv``. The scores read the paper's variants of the ReaL and PGD numbers
    (``PAPER_SCORES``), as the paper computed them; plus the joint prediction of each score from all biases
    (``n_perm`` permutations); and effective robustness on every OOD set against the line of the ``reference``
    models, with its bias correlations. With ``out``: correlations.csv, scores/biases CSVs, explain*.csv,
    effective_robustness*.csv, figures (PNG + SVG) and report.html, which also shows the layer criticality of the
    released layer-criticality study and the human observers' shape bias per category when those data are under
    the data root."""
    analysis = gavrikov2024_analysis(
        data, n_boot=n_boot, seed=seed, methods=methods, n_perm=n_perm, reference=reference, humans=HumanData()
    )
    tables = {s: wide(analysis.correlations, s, "spearman") for s in ("total", "at", "other")}
    bias_bias = wide(analysis.bias_bias, "total", value="rho")
    effective = analysis.effective_robustness
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        analysis.correlations[CORRELATION_COLUMNS].to_csv(out / "correlations.csv", index=False)
        analysis.bias_bias[CORRELATION_COLUMNS].to_csv(out / "bias_bias.csv", index=False)
        analysis.stability.to_csv(out / "loco_stability.csv", index=False)
        analysis.scores.join(analysis.biases).join(analysis.categories).to_csv(out / "models.csv")
        if analysis.explained is not None:
            analysis.explained.save(out)
        if analysis.informativeness is not None:
            analysis.informativeness.to_csv(out / "informativeness.csv", index=False)
        if effective is not None:
            write_effective_robustness(effective, out, FIGURES_DIR)
        analysis.criticality = _released_criticality(n_boot, seed)
        if analysis.criticality is None:
            analysis.notes.append(f"Layer criticality: the released {LAYER_CRITICALITY} data are not under the "
                                  "data root; run `biasbench reproduce layer-criticality --data PATH`.")  # fmt: skip
        write_report(analysis, out / "report.html", title="Reproduction: Gavrikov & Keuper, CVPR 2024")
    return Gavrikov2024(analysis, tables, bias_bias, effective)


def _released_criticality(n_boot: int, seed: int) -> CriticalityAnalysis | None:
    """The released layer-criticality study (Gavrikov et al., 2024; 51 ResNet-50s, 10,000 val images) when it is
    under the data root."""
    try:
        folder = released_dir(LAYER_CRITICALITY, None, ("results.csv", CATEGORIES_FILE))
    except DatasetError:
        return None
    records = criticality_records(folder / "results.csv")
    result = analyse_criticality(records, read_categories(folder / CATEGORIES_FILE), n_boot=n_boot, seed=seed)
    result.notes.append(f"From the released layer-criticality study (Gavrikov et al., 2024, {LAYER_CRITICALITY}/): "
                        f"{len(result.matrix)} ResNet-50s; its ImageNet top-1 is on the images it evaluated, not "
                        "the 50,000 of the scores above.")  # fmt: skip
    return result


def reproduce_layer_criticality(
    data: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> CriticalityAnalysis:
    """Criticality heat-map, per-category / per-stage / model averages and the correlation of average
    criticality with ImageNet top-1 from the released ``results.csv``. With ``out``: model_criticality.csv,
    per_category.csv, per_stage.csv, accuracy_correlation.csv and figures (PNG + SVG)."""
    folder = released_dir(LAYER_CRITICALITY, data, ("results.csv", CATEGORIES_FILE))
    categories = read_categories(folder / CATEGORIES_FILE)
    records = criticality_records(folder / "results.csv")
    result = analyse_criticality(records, categories, n_boot=n_boot, seed=seed)
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        result.model_mean.to_csv(out / "model_criticality.csv", index=False)
        result.per_category.to_csv(out / "per_category.csv")
        result.per_stage.join(result.categories).to_csv(out / "per_stage.csv")
        result.accuracy_correlation.to_csv(out / "accuracy_correlation.csv", index=False)
        for fig, stem in (
            (criticality_heatmap(result.matrix, result.categories), "criticality_heatmap"),
            (
                criticality_vs_accuracy(result.model_mean, imagenet_top1(records)),
                "criticality_vs_accuracy",
            ),
        ):
            figures.save(fig, out / FIGURES_DIR, stem)  # PNG + SVG
            plt.close(fig)
    return result
