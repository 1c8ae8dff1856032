"""The whole analysis of one set of records: scores, biases, correlations, bias-bias matrix, criticality."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from biasbench.analysis.correlation import bias_bias_matrix, correlation_table, loco_stability
from biasbench.analysis.criticality import CriticalityAnalysis, analyse_criticality
from biasbench.analysis.explain import Explained, explain
from biasbench.analysis.humans import HumanComparison
from biasbench.analysis.informativeness import category_informativeness
from biasbench.analysis.scores import bias_table, generalization_scores, normalise_records
from biasbench.analysis.specs import BIAS_NAMES, SCORE_NAMES


@dataclass
class Analysis:
    """Everything the report and the reproduction print or write."""

    records: pd.DataFrame
    categories: pd.Series
    scores: pd.DataFrame
    biases: pd.DataFrame
    correlations: pd.DataFrame
    bias_bias: pd.DataFrame
    stability: pd.DataFrame
    criticality: CriticalityAnalysis | None
    notes: list[str] = field(default_factory=list)
    explained: Explained | None = None  # joint prediction of the scores from all biases (explain.py)
    informativeness: pd.DataFrame | None = None  # category prediction beyond ImageNet top-1 (Djolonga et al.)
    humans: HumanComparison | None = None  # set by callers that have the results directory (humans.py)


def analyse(
    records: pd.DataFrame,
    categories: pd.Series | None = None,
    *,
    methods: Sequence[str] = ("spearman", "kendall", "pearson"),
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    min_models: int = 3,
    n_perm: int = 1000,
    informativeness_boot: int = 50,
) -> Analysis:
    """Derive scores and biases from ``records`` and correlate them across models.

    Correlations use the subsets total / at / other and leave-one-category-out when ``categories`` are
    given (only total otherwise), both plain and partial on ImageNet top-1. Anything that cannot be
    computed is explained in ``notes``. ``n_perm`` permutations test the joint prediction (``explain``);
    informativeness (with ``categories``) uses min(``n_boot``, ``informativeness_boot``) bootstraps.
    """
    records = normalise_records(records)
    scores, biases = generalization_scores(records), bias_table(records)
    notes = [*scores.notes, *biases.notes]
    models = scores.values.index
    if categories is None:
        notes.append("No model categories given: only the 'total' subset is analysed (pass --categories).")
        cats = pd.Series("uncategorised", index=models, name="category")
    else:
        cats = categories.reindex(models).fillna("uncategorised").rename("category")
    left = biases.values[[b for b in BIAS_NAMES if biases.values[b].notna().sum() >= min_models]]
    right = scores.values[[s for s in SCORE_NAMES if scores.values[s].notna().sum() >= min_models]]
    correlations = bias_bias = stability = pd.DataFrame()
    if left.shape[1] and right.shape[1]:
        control = scores.values["imagenet_top1"] if scores.values["imagenet_top1"].notna().any() else None
        correlations = correlation_table(
            left, right, categories=None if categories is None else cats, loco=categories is not None,
            methods=methods, control=control, n_boot=n_boot, seed=seed, alpha=alpha,
        )  # fmt: skip
        if categories is not None:
            stability = loco_stability(correlations)
    else:
        notes.append(
            f"Correlations need at least {min_models} models with a bias and a generalization score; "
            f"have biases for {int(biases.values.notna().any(axis=1).sum())} and complete scores for "
            f"{int(scores.values[list(SCORE_NAMES)].notna().any(axis=1).sum())} model(s)."
        )
    if left.shape[1] >= 2:
        bias_bias = bias_bias_matrix(left, n_boot=n_boot, seed=seed, alpha=alpha)
    criticality = analyse_criticality(records, categories, n_boot=n_boot, seed=seed)
    if criticality is not None:
        notes.extend(criticality.notes)
    explained = explain(scores.values, biases.values, categories, n_perm=n_perm, n_boot=n_boot, seed=seed)
    notes.extend(explained.notes)
    info = None
    if categories is not None:
        info = category_informativeness(
            scores.values.join(biases.values), cats, min(n_boot, informativeness_boot), seed
        )
    return Analysis(
        records, cats, scores.values, biases.values, correlations, bias_bias, stability, criticality, notes,
        explained, info,
    )  # fmt: skip
