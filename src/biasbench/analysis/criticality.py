"""Layer-criticality analysis (Gavrikov et al. 2024, METHODS §7) from ``criticality`` records.

Read from the probe's records (biasbench's own probe, or the released results.csv converted by
``released.py`` through the same record-making code): per (model, layer) ``criticality`` (percent,
condition = layer module name) and ``layer_index`` (network order); per (model, stage)
``stage_criticality`` and ``stage_index``, with the stages the probe derived from timm's parameter groups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from biasbench.analysis.correlation import correlate
from biasbench.analysis.scores import SCORE_MEASUREMENT, normalise_records, one_per_model
from biasbench.analysis.selection import JobSelector
from biasbench.analysis.specs import AT_CATEGORY, CRITICALITY, IMAGENET_TOP1
from biasbench.core.errors import BiasbenchError
from biasbench.probes.base import declared
from biasbench.store.metrics import probe_rows

_NUMBERS = re.compile(r"(\d+)")
# Criticality numbers are read per model from one job (any dataset), all layers together.
CRITICALITY_MEASUREMENT = ("metric",)


def _natural(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in _NUMBERS.split(name)]


def _wide(records: pd.DataFrame, metric: str, order_metric: str) -> pd.DataFrame:
    """Model x condition table of ``metric``, columns in the order of ``order_metric`` records (the probe's
    network order), unknown ones last in natural order (layer3.10 after layer3.9)."""
    probe = CRITICALITY.probe
    rows = declared(probe, metric).rows(records)
    duplicated = rows.duplicated(["model", "condition"])
    if duplicated.any():
        model = rows.loc[duplicated, "model"].iloc[0]
        raise BiasbenchError(
            f"{probe} records of model {model!r} come from several jobs ({', '.join(map(str, rows['job'].unique()))});"
            " pick one per model first (biasbench.analysis.selection.JobSelector, or `report --prefer`)"
        )
    table = rows.pivot(index="model", columns="condition", values="value")
    order = declared(probe, order_metric).rows(records)
    position = order.groupby("condition")["value"].mean()
    columns = sorted(table.columns, key=lambda c: (position.get(c, float("inf")), _natural(c)))
    table = table[columns]
    table.columns.name = None
    return table


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
    top1: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))  # ImageNet top-1 [%] correlated above


def criticality_matrix(records: pd.DataFrame, metric: str = CRITICALITY.metric) -> pd.DataFrame:
    """Model x layer table of ``metric`` (criticality in percent by default), layers in network order.
    ``records`` must hold one job per model (``analyse_criticality`` selects it); duplicates are an error."""
    return _wide(records, metric, "layer_index")


def stage_matrix(records: pd.DataFrame) -> pd.DataFrame:
    """Model x stage table of the probe's ``stage_criticality`` (percent), stages in network order."""
    return _wide(records, "stage_criticality", "stage_index")


def analyse_criticality(
    records: pd.DataFrame,
    categories: pd.Series | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    selector: JobSelector | None = None,
) -> CriticalityAnalysis | None:
    """Heat-map matrix, model averages, per-category and per-stage means and the correlation of the model
    average with ImageNet top-1 (Spearman and Kendall, with and without adversarially trained models).
    Returns None when there are no criticality records. Each model's numbers come from one job, chosen by
    ``selector`` (see ``biasbench.analysis.selection``)."""
    selector = selector or JobSelector()
    records = normalise_records(records)
    top1_all = imagenet_top1(records, selector)
    records = selector.select(probe_rows(records, CRITICALITY.probe), CRITICALITY_MEASUREMENT)
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
    per_stage = stage_matrix(records).reindex(rows)
    per_category = matrix.groupby(cats, sort=False).mean().mean(axis=1).to_frame("mean_criticality")
    per_category = per_category.join(per_stage.groupby(cats, sort=False).mean())
    per_category.insert(0, "n_models", cats.value_counts())
    top1 = top1_all.reindex(rows)
    if top1.isna().all():
        notes.append("No ImageNet top-1 records (accuracy/imagenet-val/top1): accuracy correlation skipped.")
    corr = []
    for label, keep in (("all", cats.notna()), ("without_at", cats != AT_CATEGORY)):
        for method in ("spearman", "kendall"):
            c = correlate(mean[keep], top1[keep], method, n_boot=n_boot, seed=seed)
            corr.append((label, method, c.rho, c.p, c.ci_low, c.ci_high, c.n))
    accuracy_correlation = pd.DataFrame(corr, columns=["models", "method", "rho", "p", "ci_low", "ci_high", "n"])
    return CriticalityAnalysis(matrix, cats, model_mean, per_category, per_stage, accuracy_correlation, notes, top1)


def imagenet_top1(records: pd.DataFrame, selector: JobSelector | None = None) -> pd.Series:
    """ImageNet top-1 per model in percent from accuracy/imagenet-val/top1 records (fractions), one job per
    model."""
    rows = IMAGENET_TOP1.rows(normalise_records(records))
    return one_per_model((selector or JobSelector()).select(rows, SCORE_MEASUREMENT)) * 100.0


__all__ = ["CriticalityAnalysis", "analyse_criticality", "criticality_matrix", "stage_matrix"]
