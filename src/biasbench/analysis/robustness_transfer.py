"""Robustness vs transfer (Djolonga et al., CVPR 2021; §B.2 of CONTAMINATION_AND_META.md): a model × metric
table of ImageNet accuracy, every robustness metric and few-shot transfer (per task, per group, overall), its
Spearman matrix across models, and the residual analysis — does robustness *beyond* ImageNet accuracy say
anything about transfer?

Residual (default, the paper's wording): ``mean(robustness metrics) − ImageNet accuracy``; variant ``ols``: the
residual of ``robustness_mean ~ a + b·ImageNet`` fitted by least squares across models. Either is correlated
with the transfer score by Spearman (the paper reports ρ = 0.12 for its 39 models and VTAB).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from biasbench.analysis.correlation import Correlation, correlate
from biasbench.analysis.scores import one_per_model
from biasbench.analysis.specs import ONDISK
from biasbench.core.errors import BiasbenchError
from biasbench.probes.transfer import TRANSFER_TOP1
from biasbench.store.metrics import select

IMAGENET = "imagenet"
IMAGENET_SOURCES = (("accuracy", "imagenet-val"), ("accuracy", "imagenet-sample"))
"""Where ImageNet top-1 comes from, in order of preference (the full validation set first)."""


@dataclass(frozen=True)
class Metric:
    """One robustness column: a (probe, dataset, metric, condition) cell of the records, in accuracy units."""

    column: str
    probe: str
    dataset: str
    metric: str = "top1"
    condition: str = ""


ROBUSTNESS_METRICS: tuple[Metric, ...] = (
    Metric("imagenet-v2", "accuracy", "imagenet-v2"),
    Metric("imagenet-a", "accuracy", "imagenet-a"),
    Metric("imagenet-r", "accuracy", "imagenet-r"),
    Metric("imagenet-sketch", "accuracy", "imagenet-sketch"),
    Metric("objectnet", "accuracy", "objectnet"),
    Metric("imagenet-c", "corruption", "imagenet-c", "mean_accuracy", ONDISK),
    Metric("imagenet-vid-robust pm10", "pm-k", "imagenet-vid-robust", "pm10"),
    Metric("ytbb-robust pm10", "pm-k", "ytbb-robust", "pm10"),
)
"""The robustness metrics of the study that biasbench probes produce (absent ones are simply left out)."""


TRANSFER_CONDITIONS = {"linear": "", "finetune": "finetune"}
"""The condition of the transfer probe's ``top1`` records per method."""


def _cell(records: pd.DataFrame, probe: str, dataset: str, metric: str, condition: str = "") -> pd.Series:
    return one_per_model(select(records, probe, metric, condition, dataset))


def transfer_columns(records: pd.DataFrame, method: str = "linear") -> pd.DataFrame:
    """Transfer top-1 of ``method`` (linear probe or fine-tuning) per task (``transfer/<task>``), per task group
    (``transfer_<group>``, the unweighted mean of the group's tasks a model has) and overall (``transfer_mean``,
    the mean over its tasks)."""
    from biasbench.data.catalogue.downstream_tasks import TransferTaskSpec
    from biasbench.data.datasets import DATASETS

    if method not in TRANSFER_CONDITIONS:
        raise BiasbenchError(f"transfer method must be one of {', '.join(TRANSFER_CONDITIONS)}, not {method!r}")
    rows = select(records, TRANSFER_TOP1.probe, TRANSFER_TOP1.metric, TRANSFER_CONDITIONS[method])
    tasks = pd.DataFrame({task: one_per_model(group) for task, group in rows.groupby("dataset")})
    if tasks.empty:
        return pd.DataFrame()
    specs = DATASETS
    out = tasks.add_prefix("transfer/")
    groups: dict[str, list[str]] = {}
    for task in tasks.columns:
        spec = specs.get(task)
        group = spec.group if isinstance(spec, TransferTaskSpec) else ""
        groups.setdefault(group or "other", []).append(task)
    for group, members in sorted(groups.items()):
        out[f"transfer_{group}"] = tasks[members].mean(axis=1)
    out["transfer_mean"] = tasks.mean(axis=1)
    return out


def meta_table(
    records: pd.DataFrame, metrics: Sequence[Metric] = ROBUSTNESS_METRICS, method: str = "linear"
) -> pd.DataFrame:
    """Model × column table: ``imagenet``, the robustness metrics present, and the transfer columns of
    ``method``. ``records`` must hold one job per model and measurement (``analysis.selection``); duplicates
    are refused, never averaged."""
    columns: dict[str, pd.Series] = {}
    for probe, dataset in IMAGENET_SOURCES:
        series = _cell(records, probe, dataset, "top1")
        if not series.empty:
            columns[IMAGENET] = series
            break
    for m in metrics:
        series = _cell(records, m.probe, m.dataset, m.metric, m.condition)
        if not series.empty:
            columns[m.column] = series
    table = pd.DataFrame(columns)
    transfer = transfer_columns(records, method)
    table = table.join(transfer, how="outer") if not table.empty else transfer
    table.index.name = "model"
    return table


def spearman_matrix(table: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Long table of Spearman ρ (p, 95% bootstrap CI over models, n) for every pair of columns."""
    rows = []
    for i, a in enumerate(table.columns):
        for b in table.columns[i + 1 :]:
            c = correlate(table[a], table[b], "spearman", n_boot=n_boot, seed=seed)
            rows.append({"x": a, "y": b, "rho": c.rho, "p": c.p, "ci_low": c.ci_low, "ci_high": c.ci_high, "n": c.n})
    return pd.DataFrame(rows, columns=["x", "y", "rho", "p", "ci_low", "ci_high", "n"])


def rho_matrix(pairs: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """The symmetric ρ matrix (ones on the diagonal) of a :func:`spearman_matrix` table."""
    matrix = pd.DataFrame(np.eye(len(columns)), index=list(columns), columns=list(columns))
    for row in pairs.itertuples():
        matrix.loc[row.x, row.y] = matrix.loc[row.y, row.x] = row.rho
    return matrix


def robustness_residual(
    table: pd.DataFrame, robustness: Sequence[str], imagenet: str = IMAGENET, mode: str = "difference"
) -> pd.Series:
    """Per model: ``mean(robustness) − imagenet`` (``difference``) or the OLS residual of the robustness mean
    on ImageNet accuracy with an intercept (``ols``, over models having both)."""
    missing = [c for c in (*robustness, imagenet) if c not in table.columns]
    if missing or not robustness:
        raise BiasbenchError(f"residual analysis needs the columns {missing or 'of robustness metrics'}")
    mean = table[list(robustness)].mean(axis=1, skipna=False)
    if mode == "difference":
        return (mean - table[imagenet]).rename("residual")
    if mode == "ols":
        keep = mean.notna() & table[imagenet].notna()
        if keep.sum() < 3:
            raise BiasbenchError("the OLS residual needs at least 3 models with ImageNet and robustness values")
        x, y = table.loc[keep, imagenet].to_numpy(float), mean[keep].to_numpy(float)
        slope, intercept = np.polyfit(x, y, 1)
        return pd.Series(y - (intercept + slope * x), index=mean.index[keep], name="residual").reindex(mean.index)
    raise BiasbenchError(f"residual mode must be 'difference' or 'ols', not {mode!r}")


def residual_transfer(
    table: pd.DataFrame,
    robustness: Sequence[str],
    transfer: str = "transfer_mean",
    *,
    imagenet: str = IMAGENET,
    mode: str = "difference",
    n_boot: int = 1000,
    seed: int = 0,
) -> Correlation:
    """Spearman ρ between the robustness residual and transfer, with p-value and bootstrap CI."""
    if transfer not in table.columns:
        raise BiasbenchError(f"no transfer column {transfer!r}; run the transfer probe (have: {list(table.columns)})")
    residual = robustness_residual(table, robustness, imagenet, mode)
    return correlate(residual, table[transfer], "spearman", n_boot=n_boot, seed=seed)


def robustness_columns(table: pd.DataFrame) -> list[str]:
    """The robustness metric columns present in a :func:`meta_table`."""
    return [c for c in table.columns if c != IMAGENET and not c.startswith("transfer")]


def residual_table(table: pd.DataFrame, *, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Residual-vs-transfer Spearman for both residual modes and every transfer summary column."""
    robustness = robustness_columns(table)
    targets = [c for c in table.columns if c.startswith("transfer_")]
    if IMAGENET not in table.columns or not robustness or not targets:
        return pd.DataFrame()
    rows = []
    for mode in ("difference", "ols"):
        for target in targets:
            try:
                c = residual_transfer(table, robustness, target, mode=mode, n_boot=n_boot, seed=seed)
            except BiasbenchError:
                continue
            rows.append({"residual": mode, "transfer": target, "rho": c.rho, "p": c.p, "ci_low": c.ci_low,
                         "ci_high": c.ci_high, "n": c.n})  # fmt: skip
    return pd.DataFrame(rows)
