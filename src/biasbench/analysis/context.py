"""A released study as the context of a user's models: the study's own analysis (its models' scores, biases,
correlations, joint prediction) and where each user model falls among its models, measurement by
measurement, under the comparability rules of ``comparability``.

``load_context("gavrikov2024")`` reads the 48 ResNet-50s of Gavrikov & Keuper (CVPR 2024) from the released
``benchmark.csv`` (through ``released.benchmark_records``) and analyses them exactly as
``biasbench reproduce gavrikov2024`` does; ``place(analysis, context)`` ranks the user's values among them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from biasbench.analysis.comparability import (
    APPROXIMATE,
    GAVRIKOV2024_OOD_RULES,
    GAVRIKOV2024_RULES,
    NOT_COMPARABLE,
    PLACED,
    SAME,
    Comparison,
    Rule,
    compare,
    comparisons,
)
from biasbench.analysis.effective_robustness import DEFAULT_REFERENCE, ID_COLUMN, per_model_er
from biasbench.analysis.humans import HumanData
from biasbench.analysis.pipeline import Analysis, analyse
from biasbench.analysis.released import (
    CATEGORIES_FILE,
    GAVRIKOV2024,
    benchmark_records,
    read_categories,
    released_dir,
)
from biasbench.analysis.specs import PAPER_OOD_SETS, PAPER_SCORES
from biasbench.core.errors import UnknownNameError
from biasbench.core.paths import resolve_data_root

ER_VALUES = ("id_accuracy", "ood_accuracy", "predicted", "effective_robustness", "er_low", "er_high", "extrapolated")
ER_PLACEMENT_COLUMNS = ("model", "ood", "title", "status", *ER_VALUES, "rank", "of", "reason")
PLACEMENT_COLUMNS = (
    "model", "measurement", "title", "unit", "status", "value", "ci_low", "ci_high", "n_images", "images",
    "reason", "rank", "of", "ties", "study_min", "study_median", "study_max", "study",
)  # fmt: skip


def gavrikov2024_records(data: str | os.PathLike[str] | None = None) -> tuple[pd.DataFrame, pd.Series]:
    """The records of the 48 ResNet-50s of Gavrikov & Keuper (CVPR 2024) from the released ``benchmark.csv``
    (``data``: its folder; default ``<data root>/biases-vs-generalization``) and their categories."""
    folder = released_dir(GAVRIKOV2024, data, ("benchmark.csv", CATEGORIES_FILE))
    categories = read_categories(folder / CATEGORIES_FILE)
    return benchmark_records(folder / "benchmark.csv", categories.index), categories  # only the study's 48 models


def gavrikov2024_analysis(
    data: str | os.PathLike[str] | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    methods: Sequence[str] = ("spearman", "kendall", "pearson"),
    n_perm: int = 1000,
    informativeness_boot: int | None = None,
    reference: str | Sequence[str] = DEFAULT_REFERENCE,
    humans: HumanData | None = None,
) -> Analysis:
    """The analysis of the 48 ResNet-50s of Gavrikov & Keuper (CVPR 2024) from the released ``benchmark.csv``
    (``data``: its folder; default ``<data root>/biases-vs-generalization``). The scores and the OOD accuracies
    of effective robustness (against the line of the ``reference`` models) read the paper's variants of the ReaL
    and PGD numbers (``PAPER_SCORES``, ``PAPER_OOD_SETS``), as the paper computed them. ``humans``: the human
    observers' side (``HumanData()``: their shape bias per category; the study released no per-image decisions)."""
    records, categories = gavrikov2024_records(data)
    extra = {} if informativeness_boot is None else {"informativeness_boot": informativeness_boot}
    return analyse(
        records, categories, methods=methods, n_boot=n_boot, seed=seed, score_specs=PAPER_SCORES, n_perm=n_perm,
        ood_sets=PAPER_OOD_SETS, reference=reference, humans=humans, **extra,
    )  # fmt: skip


@dataclass
class StudyContext:
    """A released study: its name, citation, what its models are, its analysis and its comparability rules."""

    name: str
    title: str
    models: str  # what the study's models are, in words
    analysis: Analysis
    rules: tuple[Rule, ...]
    ood_rules: tuple[Rule, ...] = ()  # the accuracies its effective-robustness lines set against ImageNet top-1

    def values(self, measurement: str) -> pd.Series:
        """The study's models' values of ``measurement`` (a score, ``imagenet_top1`` or a bias)."""
        a = self.analysis
        return (a.scores[measurement] if measurement in a.scores.columns else a.biases[measurement]).dropna()


def _gavrikov2024(data_root: str | os.PathLike[str] | None, n_boot: int, seed: int, n_perm: int) -> StudyContext:
    folder = resolve_data_root(data_root) / GAVRIKOV2024
    analysis = gavrikov2024_analysis(
        folder, n_boot=n_boot, seed=seed, methods=("spearman",), n_perm=n_perm, informativeness_boot=0
    )
    return StudyContext(
        "gavrikov2024",
        "Gavrikov & Keuper, CVPR 2024",
        f"the {len(analysis.scores)} ResNet-50s of Gavrikov & Keuper (CVPR 2024), one architecture trained "
        "in different ways",
        analysis,
        GAVRIKOV2024_RULES,
        GAVRIKOV2024_OOD_RULES,
    )


CONTEXTS: dict[str, Callable[..., StudyContext]] = {"gavrikov2024": _gavrikov2024}


def load_context(
    name: str,
    data_root: str | os.PathLike[str] | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    n_perm: int = 1000,
) -> StudyContext:
    """The released study ``name`` (``CONTEXTS``) read from under ``data_root`` (default: the data root) and
    analysed with ``n_boot`` bootstrap resamples and ``n_perm`` permutations (Spearman only; its
    informativeness without bootstrap: the context places models, the reproduction has the full analysis)."""
    if name not in CONTEXTS:
        raise UnknownNameError("context study", name, CONTEXTS)
    return CONTEXTS[name](data_root, n_boot, seed, n_perm)


@dataclass
class Placement:
    """Each user model's comparisons with the study, and its rank among the study's models where placed."""

    context: StudyContext
    comparisons: list[Comparison]
    table: pd.DataFrame  # PLACEMENT_COLUMNS, one row per (model, measurement)
    effective_robustness: pd.DataFrame = field(default_factory=pd.DataFrame)  # ER_PLACEMENT_COLUMNS

    def placed(self, measurement: str) -> pd.DataFrame:
        """Rows of the models whose ``measurement`` is placed (same protocol or approximate)."""
        t = self.table
        return t[(t["measurement"] == measurement) & t["status"].isin(("same", "approximate"))]


def rank_among(value: float, study: pd.Series) -> tuple[int, int, int]:
    """(rank, of, ties): 1 + the number of study values above ``value`` (1 = highest) among len(study) + 1,
    and how many study values equal it (to 1e-9)."""
    values = study.to_numpy(float)
    ties = int(np.isclose(values, value, rtol=0, atol=1e-9).sum())
    return 1 + int((values > value + 1e-9).sum()), len(values) + 1, ties


def place(analysis: Analysis, context: StudyContext) -> Placement:
    """Compare every model of ``analysis`` with ``context`` under its rules, and rank the placed values."""
    models = list(analysis.scores.index.union(analysis.biases.index))
    found = comparisons(context.rules, models, analysis.scores, analysis.records, analysis.jobs)
    rules = {r.name: r for r in context.rules}
    rows = []
    for c in found:
        rule, study = rules[c.measurement], context.values(c.measurement)
        rank, of, ties = rank_among(c.value, study) if c.placed else (np.nan, np.nan, np.nan)
        rows.append({
            "model": c.model, "measurement": c.measurement, "title": rule.title, "unit": rule.unit,
            "status": c.status, "value": c.value, "ci_low": c.ci_low, "ci_high": c.ci_high, "n_images": c.n_images,
            "images": c.images, "reason": c.reason, "rank": rank, "of": of, "ties": ties, "study_min": study.min(),
            "study_median": study.median(), "study_max": study.max(), "study": rule.study,
        })  # fmt: skip
    table = pd.DataFrame(rows, columns=list(PLACEMENT_COLUMNS))
    return Placement(context, found, table, place_effective_robustness(analysis, context, models))


def place_effective_robustness(analysis: Analysis, context: StudyContext, models: list[str]) -> pd.DataFrame:
    """Each user model against each of the study's effective-robustness lines (``ER_PLACEMENT_COLUMNS``): placed
    where its ImageNet top-1 and its accuracy on the OOD set both compare with the study's (the worse verdict of
    the two, both reasons), its ER against the study's line and its rank among the study's models' ER; else
    listed with the reason and no value."""
    study = context.analysis.effective_robustness
    if study is None or not models:
        return pd.DataFrame(columns=list(ER_PLACEMENT_COLUMNS))
    id_rule = next(r for r in context.rules if r.name == ID_COLUMN)
    ood_rules = {r.name: r for r in context.ood_rules}
    rows = []
    for ood in (o for o in study.ood_sets if o.name in ood_rules):
        rules = (id_rule, ood_rules[ood.name])
        for model in models:
            pair = [compare(rule, model, analysis.scores, analysis.records, analysis.jobs) for rule in rules]
            status = SAME if all(c.status == SAME for c in pair) else APPROXIMATE
            status = status if all(c.placed for c in pair) else NOT_COMPARABLE
            reason = "; ".join(f"{r.title}: {c.reason}" for r, c in zip(rules, pair, strict=True) if c.reason)
            row = {"model": model, "ood": ood.name, "title": ood.title, "status": status, "reason": reason}
            if status in PLACED:
                accuracies = pd.DataFrame({ID_COLUMN: [pair[0].value], ood.name: [pair[1].value]}, index=[model])
                er = per_model_er(ood, study.lines[ood.name], accuracies, ()).iloc[0]
                values = study.values[ood.name].dropna()
                rank, of, _ = rank_among(er["effective_robustness"], values)
                row |= {k: er[k] for k in ER_VALUES} | {"rank": rank, "of": of}
            rows.append(row)
    return pd.DataFrame(rows, columns=list(ER_PLACEMENT_COLUMNS))
