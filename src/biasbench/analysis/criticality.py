"""Layer-criticality analysis (Gavrikov et al. 2024, METHODS §7) from ``criticality`` records.

One row per (model, layer): probe ``criticality``, metric ``criticality`` (percent), condition = layer
module name. Both biasbench's own probe and the released results.csv (via ``released.py``) give this.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from biasbench.analysis.correlation import correlate
from biasbench.analysis.scores import normalise_records
from biasbench.analysis.specs import AT_CATEGORY, CRITICALITY, IMAGENET_TOP1

_STAGE = re.compile(r"(?:^|\.)layer(\d+)(?:\.|$)")
_NUMBERS = re.compile(r"(\d+)")


def stage_of(layer: str) -> str:
    """ResNet stage of a module name: ``layer3.0.conv1`` -> ``layer3``; the rest is ``stem`` or ``head``."""
    match = _STAGE.search(layer)
    if match:
        return f"layer{match[1]}"
    return "head" if re.search(r"(^|\.)(fc|head|classifier)(\.|$)", layer) else "stem"


def _layer_order(layer: str) -> tuple:
    # Network order: stem, stages by number, head; numeric parts compare as numbers (layer3.10 > layer3.9).
    rank = {"stem": 0, "head": 2}.get(stage_of(layer), 1)
    return rank, [int(t) if t.isdigit() else t for t in _NUMBERS.split(layer)]


@dataclass
class CriticalityAnalysis:
    """Model x layer criticality (percent) and its summaries."""

    matrix: pd.DataFrame
    categories: pd.Series
    model_mean: pd.DataFrame
    per_category: pd.DataFrame
    per_stage: pd.DataFrame
    accuracy_correlation: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def criticality_matrix(records: pd.DataFrame) -> pd.DataFrame:
    """Model x layer table of criticality (percent), layers in network order."""
    probe, metric = CRITICALITY
    rows = records[(records["probe"] == probe) & (records["metric"] == metric)]
    matrix = rows.pivot_table(index="model", columns="condition", values="value", aggfunc="mean")
    return matrix[sorted(matrix.columns, key=_layer_order)]


def analyse_criticality(
    records: pd.DataFrame, categories: pd.Series | None = None, *, n_boot: int = 1000, seed: int = 0
) -> CriticalityAnalysis | None:
    """Heat-map matrix, model averages, per-category and per-stage means and the correlation of the model
    average with ImageNet top-1 (Spearman and Kendall, with and without adversarially trained models).
    Returns None when there are no criticality records."""
    records = normalise_records(records)
    matrix = criticality_matrix(records)
    if matrix.empty:
        return None
    notes: list[str] = []
    cats = (categories if categories is not None else pd.Series(dtype=str)).reindex(matrix.index)
    if cats.isna().any():
        notes.append(f"{int(cats.isna().sum())} model(s) without a category are grouped as 'uncategorised'.")
    cats = cats.fillna("uncategorised").rename("category")
    # Rows grouped by category (in the categories' order of first appearance), then by name.
    order = {c: i for i, c in enumerate(dict.fromkeys(categories.tolist() if categories is not None else []))}
    rows = sorted(matrix.index, key=lambda m: (order.get(cats[m], len(order)), m))
    matrix, cats = matrix.loc[rows], cats.loc[rows]
    mean = matrix.mean(axis=1)
    model_mean = pd.DataFrame({"model": rows, "category": cats.to_numpy(), "mean_criticality": mean.to_numpy()})
    stages = pd.Series({layer: stage_of(layer) for layer in matrix.columns})
    per_stage = matrix.T.groupby(stages, sort=False).mean().T
    per_category = matrix.groupby(cats, sort=False).mean().mean(axis=1).to_frame("mean_criticality")
    per_category = per_category.join(per_stage.groupby(cats, sort=False).mean())
    per_category.insert(0, "n_models", cats.value_counts())
    top1 = imagenet_top1(records).reindex(rows)
    if top1.isna().all():
        notes.append("No ImageNet top-1 records (accuracy/imagenet-val/top1): accuracy correlation skipped.")
    corr = []
    for label, keep in (("all", cats.notna()), ("without_at", cats != AT_CATEGORY)):
        for method in ("spearman", "kendall"):
            c = correlate(mean[keep], top1[keep], method, n_boot=n_boot, seed=seed)
            corr.append((label, method, c.rho, c.p, c.ci_low, c.ci_high, c.n))
    accuracy_correlation = pd.DataFrame(corr, columns=["models", "method", "rho", "p", "ci_low", "ci_high", "n"])
    return CriticalityAnalysis(matrix, cats, model_mean, per_category, per_stage, accuracy_correlation, notes)


def imagenet_top1(records: pd.DataFrame) -> pd.Series:
    """ImageNet top-1 per model in percent from accuracy/imagenet-val/top1 records (fractions)."""
    m = IMAGENET_TOP1
    rows = records[(records["probe"] == m.probe) & (records["dataset"] == m.dataset) & (records["metric"] == m.metric)]
    return rows.groupby("model")["value"].mean() * 100.0


def layer_labels(layers: list[str]) -> list[str]:
    """Short heat-map labels: ``layer3.0.conv2`` -> ``[3.0] conv2`` (the notebook's style)."""
    out = []
    for layer in layers:
        match = re.match(r"layer(\d+)\.(\d+)\.(.+)", layer)
        out.append(f"[{match[1]}.{match[2]}] {match[3]}" if match else layer)
    return out


__all__ = ["CriticalityAnalysis", "analyse_criticality", "criticality_matrix", "layer_labels", "stage_of"]
