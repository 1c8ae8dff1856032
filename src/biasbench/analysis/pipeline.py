"""The whole analysis of one set of records: scores, biases, correlations, bias-bias matrix, criticality."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from biasbench.analysis.correlation import bias_bias_matrix, correlation_table, loco_stability
from biasbench.analysis.criticality import CriticalityAnalysis, analyse_criticality
from biasbench.analysis.effective_robustness import EffectiveRobustness, auto_reference, effective_robustness
from biasbench.analysis.explain import Explained, explain
from biasbench.analysis.failure_factors import FailureFactors
from biasbench.analysis.humans import HumanComparison, HumanData
from biasbench.analysis.informativeness import category_informativeness
from biasbench.analysis.scores import (
    BIAS_MEASUREMENT,
    SCORE_MEASUREMENT,
    bias_table,
    generalization_scores,
    normalise_records,
)
from biasbench.analysis.selection import JobInfo, JobSelector
from biasbench.analysis.specs import (
    AT_CATEGORY,
    BIAS_NAMES,
    BIASES,
    CRITICAL_BAND_CURVE,
    OOD_SETS,
    SCORE_NAMES,
    SCORES,
    SPECTRAL_CURVE,
    OodSet,
    ScoreSpec,
)
from biasbench.store.conditions import FactorLevel, Location, parse_condition

# Probes whose curves the report draws next to the biases they give: read from the bias's job.
CURVE_PROBES = (SPECTRAL_CURVE[0], CRITICAL_BAND_CURVE[0])
# Probes with report sections of their own beyond scores and biases (robustness vs transfer, test resolution,
# SI-SCORE, REFINED-BIAS's own stimuli beside the shape bias).
SECTION_PROBES = ("transfer", "resolution", "si-score", "refined-bias")
# Probes whose jobs on one dataset vary different factors (SI-SCORE's size / location / rotation variants).
FACTOR_PROBES = ("si-score",)
# Bootstrap resamples of the informativeness gain (its CI and the fraction of resamples that gain): enough
# for a Monte-Carlo SE of that fraction below 0.016 (README "Informativeness").
INFORMATIVENESS_BOOT = 1000
SHOWN_PROBES = frozenset({m.probe for s in SCORES for m in s.members} | {b.probe for b in BIASES} | set(SECTION_PROBES))


def with_factor(records: pd.DataFrame) -> pd.DataFrame:
    """``records`` with a ``factor`` column: per job, the factor its SI-SCORE groups vary (``area``,
    ``location``, ``rotation``; "" for other jobs), so jobs of different SI-SCORE variants on one dataset are
    different measurements even in their unconditioned records (``top1`` at condition "")."""
    groups = [parse_condition(c) for c in records["condition"].astype(str)]
    factors = pd.Series([g.factor if isinstance(g, FactorLevel | Location) else "" for g in groups], records.index)
    per_job = factors[factors != ""].groupby(records["job"]).first()
    return records.assign(factor=records["job"].map(per_job).fillna(""))


def selected_records(records: pd.DataFrame, selector: JobSelector) -> pd.DataFrame:
    """The records the report shows (probes of scores and biases): one job per model and measurement (per
    dataset; for the curve probes, the one job their bias is read from; for SI-SCORE, one per varied factor)."""
    shown = records[records["probe"].isin(SHOWN_PROBES)]
    factored = shown["probe"].isin(FACTOR_PROBES)
    per_dataset = selector.select(shown[~factored], SCORE_MEASUREMENT)
    per_factor = selector.select(with_factor(shown[factored]), ("factor", *SCORE_MEASUREMENT))
    curves = per_dataset["probe"].isin(CURVE_PROBES)
    return pd.concat(
        [per_dataset[~curves], selector.select(per_dataset[curves], BIAS_MEASUREMENT), per_factor[shown.columns]]
    )


@dataclass
class Analysis:
    """Everything the report and the reproduction print or write."""

    records: pd.DataFrame  # the records read: one job per model and measurement
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
    humans: HumanComparison | None = None  # the models (or the humans alone) against model-vs-human's observers
    explained_other: Explained | None = None  # the joint prediction within the models outside adversarial training
    jobs: dict[str, JobInfo] = field(default_factory=dict)  # the manifests' job info by key (limits, parameters)
    settings: dict = field(default_factory=dict)  # the statistics' settings (methods, n_boot, n_perm, alpha, ...)
    effective_robustness: EffectiveRobustness | None = None  # where ImageNet top-1 and an OOD set give a line
    failure_factors: FailureFactors | None = None  # ImageNet-X error ratios, set by callers with the directory


def analyse(
    records: pd.DataFrame,
    categories: pd.Series | None = None,
    *,
    methods: Sequence[str] = ("spearman", "kendall", "pearson"),
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
    min_models: int = 3,
    selector: JobSelector | None = None,
    score_specs: tuple[ScoreSpec, ...] = SCORES,
    n_perm: int = 1000,
    informativeness_boot: int = INFORMATIVENESS_BOOT,
    ood_sets: Sequence[OodSet] = OOD_SETS,
    reference: str | Sequence[str] | None = None,
    humans: HumanData | None = None,
) -> Analysis:
    """Derive scores and biases from ``records`` and correlate them across models.

    Correlations use the subsets total / at / other and leave-one-category-out when ``categories`` are
    given (only total otherwise), both plain and partial on ImageNet top-1. Anything that cannot be
    computed is explained in ``notes``. ``selector`` chooses the one job per model and measurement that is
    read (pass one built from the results' manifests and the user's preferences); ``score_specs`` are the
    score definitions (``specs.PAPER_SCORES`` only to reproduce the paper's compat numbers).
    ``n_perm`` permutations test the joint prediction (``explain``), which is repeated within the models outside
    adversarial training (``explained_other``: siblings such as the ε-series stay out); informativeness (with
    ``categories``) uses min(``n_boot``, ``informativeness_boot``) bootstraps. Effective robustness on
    ``ood_sets`` against the line of ``reference`` (default ``auto_reference``) is computed where at least
    ``min_models`` models have ImageNet top-1 and a line can be fitted. ``humans`` says where the comparison
    with the human observers reads from (the results directory's stored decisions; see ``HumanData``); None
    leaves it out.
    """
    records = normalise_records(records)
    selector = selector or JobSelector()
    scores = generalization_scores(records, score_specs, selector)
    biases = bias_table(records, selector=selector)
    criticality = analyse_criticality(records, categories, n_boot=n_boot, seed=seed, selector=selector)
    notes = [*selector.notes, *scores.notes, *biases.notes]
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
    if criticality is not None:
        notes.extend(criticality.notes)
    explained = explain(scores.values, biases.values, categories, n_perm=n_perm, n_boot=n_boot, seed=seed)
    notes.extend(explained.notes)
    info = explained_other = None
    if categories is not None:
        info_boot = min(n_boot, informativeness_boot)
        info = category_informativeness(scores.values.join(biases.values), cats, info_boot, seed)
        other = cats.index[cats != AT_CATEGORY]
        if (cats == AT_CATEGORY).any() and len(other) >= 8:
            explained_other = explain(
                scores.values.loc[other], biases.values.reindex(other), categories, n_perm=n_perm, n_boot=0, seed=seed
            )
    settings = {
        "methods": tuple(methods), "n_boot": n_boot, "seed": seed, "alpha": alpha, "n_perm": n_perm,
        "informativeness_boot": min(n_boot, informativeness_boot) if info is not None else 0,
    }  # fmt: skip
    effective = _effective_robustness(
        records, categories, scores.values["imagenet_top1"], ood_sets, reference, selector=selector,
        n_boot=n_boot, seed=seed, alpha=alpha, min_models=min_models,
    )  # fmt: skip
    human = humans.compare(selector) if humans is not None else None
    notes.extend(human.notes if human is not None else [])
    records = selected_records(records, selector)
    return Analysis(
        records, cats, scores.values, biases.values, correlations, bias_bias, stability, criticality, notes,
        explained, info, human, explained_other, dict(selector.jobs), settings, effective,
    )  # fmt: skip


def _effective_robustness(
    records: pd.DataFrame,
    categories: pd.Series | None,
    top1: pd.Series,
    ood_sets: Sequence[OodSet],
    reference: str | Sequence[str] | None,
    **options,
) -> EffectiveRobustness | None:
    """Effective robustness when at least ``min_models`` models have ImageNet top-1 and a line is fitted."""
    with_top1 = list(top1.dropna().index)
    if len(with_top1) < options["min_models"]:
        return None
    reference = auto_reference(categories, with_top1) if reference is None else reference
    result = effective_robustness(records, categories, reference=reference, ood_sets=ood_sets, **options)
    return result if result.lines else None
