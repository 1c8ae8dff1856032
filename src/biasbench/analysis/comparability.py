"""Whether a user's measurement can stand among a released study's models: one rule set, in one place.

Every measurement of the study has a ``Rule``: what the study measured (its images and parameters) and how a
user's record relates to that. ``compare`` applies it to one model of an ``Analysis`` and returns a
``Comparison`` with one of three statuses:

- ``same``: the study's quantity on the study's images with the study's parameters; placed as is.
- ``approximate``: the same quantity measured on fewer or other images of the same distribution (the
  1,000-image one-per-class sample of ImageNet val, a ``--limit``) or with a weaker setting the rule names (fewer
  PGD steps); placed with a distinct marker, its n and CI, and the difference said in words.
- ``not comparable``: not measured, a different quantity (other datasets, other parameters), or a failed fit;
  listed with the reason and never placed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from biasbench.analysis.model_kinds import CLASSIFIER, model_kind
from biasbench.analysis.selection import JobInfo
from biasbench.analysis.specs import BIASES, OOD_SETS, PGD_LOW, PGD_ROBUST, SCORES, OodSet, ScoreSpec

SAME, APPROXIMATE, NOT_COMPARABLE = "same", "approximate", "not comparable"
PLACED = (SAME, APPROXIMATE)
IMAGENET_VAL_IMAGES = 50_000
# Datasets that hold images of ImageNet val's distribution, and how to say so.
VAL_SUBSETS = {"imagenet-sample": "the 1,000-image one-per-class sample of ImageNet val"}


@dataclass(frozen=True)
class Setting:
    """A probe parameter the study fixed: its value there, and what a different value makes of the number."""

    study: Any
    if_different: str  # APPROXIMATE or NOT_COMPARABLE
    words: str  # what the study used, in words ("PGD-40")


@dataclass(frozen=True)
class Rule:
    """One measurement of a study and how a user's records compare with it.

    ``name`` is the column of the analysis (``scores`` or ``biases``); the user's value is the record
    (``probe``, ``metric``, ``condition``) on ``dataset`` (the study's images) or one of ``VAL_SUBSETS`` when
    ``subsets`` (approximate), times ``scale``. ``settings``: parameters of the job checked against the study.
    A ``score`` rule reads the user's complete score instead (all members on the study's datasets).
    """

    name: str
    title: str
    unit: str
    study: str  # the study's protocol in words
    study_images: str = ""  # the study's images in words (what an approximation is measured against)
    probe: str = ""
    metric: str = ""
    condition: str = ""
    dataset: str = "imagenet-val"
    subsets: bool = True
    scale: float = 1.0
    settings: Mapping[str, Setting] = field(default_factory=dict)
    score: ScoreSpec | None = None
    decisions: str = ""  # how the study's models decided, where another decision rule gives other numbers


@dataclass(frozen=True)
class Comparison:
    """A user's value of one measurement next to the study's protocol (value in the rule's unit)."""

    model: str
    measurement: str
    status: str
    value: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    n_images: int | None = None
    images: str = ""  # the user's images and settings, in words
    reason: str = ""  # why approximate or not comparable

    @property
    def placed(self) -> bool:
        return self.status in PLACED


_VAL = f"the {IMAGENET_VAL_IMAGES:,} ImageNet val images"
_SPEC = {s.name: s for s in SCORES}
_BIAS = {b.name: b for b in BIASES}
_CRITICAL_BAND = {
    "protocol": Setting("B", NOT_COMPARABLE, "protocol B (every image under every condition, 1000-way)"),
    "criterion": Setting(50.0, NOT_COMPARABLE, "a 50 % criterion"),
    "reference": Setting(None, NOT_COMPARABLE, "the criterion relative to the noise-free accuracy"),
    "noise_rms": Setting("level0", NOT_COMPARABLE, "noise scaled as the reference code does"),
}
_SPECTRAL = {
    "bias_cutoffs": Setting([0.1, 0.2, 0.3, 0.4, 0.5], NOT_COMPARABLE, "the mean over cut-offs 0.1-0.5"),
    "mask": Setting("square", NOT_COMPARABLE, "a square Fourier mask"),
}


def _bias_rule(
    name: str,
    study: str,
    settings: Mapping[str, Setting],
    dataset: str = "imagenet-val",
    images: str = _VAL,
    decisions: str = "",
) -> Rule:
    b = _BIAS[name]
    return Rule(
        name,
        b.title,
        b.unit,
        study,
        images,
        b.probe,
        b.metric,
        b.condition,
        dataset,
        subsets=dataset == "imagenet-val",
        settings=settings,
        decisions=decisions,
    )


GAVRIKOV2024_RULES: tuple[Rule, ...] = (
    Rule("imagenet_top1", "ImageNet top-1", "%", f"top-1 on {_VAL}", _VAL, "accuracy", "top1", scale=100.0),
    Rule("id", "ID", "%", "mean top-1 on ImageNet val, V2 and ReaL", "their full sets", score=_SPEC["id"]),
    Rule(
        "robustness",
        "Robustness",
        "%",
        "mean top-1 on ImageNet-A, -C and -C̄ (the released sets)",
        "their full sets",
        score=_SPEC["robustness"],
    ),
    Rule(
        "concepts",
        "Concepts",
        "%",
        "mean top-1 on ImageNet-Sketch, -R and Stylized",
        "their full sets",
        score=_SPEC["concepts"],
    ),
    Rule(
        "adversarial",
        "Adversarial",
        "%",
        f"PGD-40 L∞ ε = 0.5/255 robust top-1 on {_VAL}",
        _VAL,
        "adversarial",
        "robust_accuracy",
        PGD_LOW,
        scale=100.0,
        settings={"steps": Setting(40, APPROXIMATE, "PGD-40")},
    ),
    _bias_rule(
        "shape_bias",
        "16-class decisions on the cue-conflict stimuli (Geirhos et al.)",
        {},
        "cue-conflict",
        "the 1,280 cue-conflict stimuli",
        "1000-way ImageNet classifiers, mapped to the 16 categories",
    ),
    _bias_rule("low_freq_bias", f"mean ratio to clean top-1 over low-pass cut-offs 0.1-0.5 on {_VAL}", _SPECTRAL),
    _bias_rule("high_freq_bias", f"mean ratio to clean top-1 over high-pass cut-offs 0.1-0.5 on {_VAL}", _SPECTRAL),
    *(
        _bias_rule(b, f"critical-band protocol B, 50 % of the noise-free accuracy, on {_VAL}", _CRITICAL_BAND)
        for b in ("bandwidth", "center_frequency", "peak_noise_sensitivity")
    ),
)
"""The rule set of Gavrikov & Keuper (CVPR 2024): its four scores, ImageNet top-1 and its six biases."""


def _ood_rule(ood: OodSet) -> Rule:
    """The accuracy on one OOD set as the study measured it: the full set, or PGD-40 on ImageNet val."""
    if ood.member == PGD_ROBUST:
        return replace(next(r for r in GAVRIKOV2024_RULES if r.name == "adversarial"), name=ood.name, title=ood.title)
    m, images = ood.member, f"the full {ood.title}"
    return Rule(ood.name, ood.title, "%", f"top-1 on {images}", images, m.probe, m.metric, m.condition, m.dataset,
                subsets=False, scale=100.0)  # fmt: skip


GAVRIKOV2024_OOD_RULES: tuple[Rule, ...] = tuple(_ood_rule(o) for o in OOD_SETS)
"""The accuracies on the study's OOD sets (its effective-robustness lines), as ``compare`` reads a user's."""


def _rows(records: pd.DataFrame, model: str, probe: str, metric: str, condition: str) -> pd.DataFrame:
    return records[
        (records["model"] == model)
        & (records["probe"] == probe)
        & (records["metric"] == metric)
        & (records["condition"] == condition)
    ]


def _images(job: JobInfo, dataset: str, rule: Rule) -> str:
    """The user's images in words: the study's own set, a --limit of it, or a subset of ImageNet val."""
    where = VAL_SUBSETS.get(dataset, f"the {dataset} images")
    if dataset == rule.dataset and job.limit is None:
        return rule.study_images
    return f"{job.n_images:,} images of {where}" if job.limit is not None else where


def _different(job: JobInfo, settings: Mapping[str, Setting]) -> list[tuple[str, str]]:
    """(status, words) for each checked parameter of ``job`` that differs from the study's value."""
    return [
        (setting.if_different, f"{name} = {job.params[name]} (study: {setting.words})")
        for name, setting in settings.items()
        if name in job.params and job.params[name] != setting.study
    ]


def _record_comparison(rule: Rule, model: str, records: pd.DataFrame, jobs: Mapping[str, JobInfo]) -> Comparison:
    allowed = [rule.dataset, *(VAL_SUBSETS if rule.subsets else ())]
    rows = _rows(records, model, rule.probe, rule.metric, rule.condition)
    rows = rows[rows["dataset"].isin(allowed)]
    if rows.empty:
        what = f"{rule.probe} {rule.metric}" + (f" at {rule.condition}" if rule.condition else "")
        return Comparison(model, rule.name, NOT_COMPARABLE, reason=f"not measured (needs {what} on {rule.dataset})")
    row = rows.iloc[rows["dataset"].map(allowed.index).argsort()].iloc[0]  # the study's own dataset first
    job = jobs.get(row["job"]) or JobInfo(str(row["job"]), rule.probe, row["dataset"])
    images = _images(job, row["dataset"], rule)
    reasons = _different(job, rule.settings) + _decided(job, rule)
    if _fit_failed(records, model, rule):
        fit = job.notes.get("fit")
        failure = fit.get("reason", "") if isinstance(fit, dict) else ""
        reasons.append((NOT_COMPARABLE, "the channel fit failed" + (f" ({failure})" if failure else "")))
    if images != rule.study_images:
        reasons.append((APPROXIMATE, f"{images} (study: {rule.study_images})"))
    status = SAME
    if reasons:
        status = NOT_COMPARABLE if any(s == NOT_COMPARABLE for s, _ in reasons) else APPROXIMATE
    words = "; ".join(w for s, w in reasons if s == status)
    if status == NOT_COMPARABLE:
        return Comparison(model, rule.name, status, n_images=job.n_images, images=images, reason=words)
    value, low, high = (float(row[c]) * rule.scale for c in ("value", "ci_low", "ci_high"))
    return Comparison(model, rule.name, status, value, low, high, job.n_images, images, words)


def _decided(job: JobInfo, rule: Rule) -> list[tuple[str, str]]:
    """An approximation when the job's decisions were not made as the study's were: a zero-shot head over the 16
    names, or a VLM's answers (the same quantity, another decision rule)."""
    kind = model_kind(job)
    if not rule.decisions or kind.family == CLASSIFIER or not kind.decides_16_directly:
        return []
    return [(APPROXIMATE, f"decided by {kind.how} (study: {rule.decisions})")]


def _fit_failed(records: pd.DataFrame, model: str, rule: Rule) -> bool:
    if rule.probe != "critical-band":
        return False
    flag = _rows(records, model, rule.probe, "fit_degenerate", "")
    return bool((flag["value"] > 0).any())


def _score_comparison(
    rule: Rule, model: str, analysis_scores: pd.DataFrame, records: pd.DataFrame, jobs: Mapping[str, JobInfo]
) -> Comparison:
    spec = rule.score
    value = analysis_scores.at[model, rule.name] if model in analysis_scores.index else np.nan
    member_rows = [
        _rows(records, model, m.probe, m.metric, m.condition).query("dataset == @m.dataset") for m in spec.members
    ]
    if np.isnan(value):
        missing = [m for m, rows in zip(spec.members, member_rows, strict=True) if rows.empty]
        mine = records[(records["model"] == model) & records["probe"].isin({m.probe for m in spec.members})]
        reason = "not measured: needs " + _by_probe((m.probe + (f" ({m.condition})" if m.condition else ""), m.dataset)
                                                    for m in missing)  # fmt: skip
        if len(mine):
            reason += f" (the results hold only {_by_probe(zip(mine['probe'], mine['dataset'], strict=True))})"
        return Comparison(model, rule.name, NOT_COMPARABLE, reason=reason)
    limited = []
    for m, rows in zip(spec.members, member_rows, strict=True):
        job = jobs.get(rows["job"].iloc[0]) if len(rows) else None
        if job is not None and job.limit is not None:
            limited.append(f"{m.dataset}: {job.n_images:,} images")
    if limited:
        return Comparison(
            model,
            rule.name,
            APPROXIMATE,
            value,
            images="; ".join(limited),
            reason="subsets of the study's datasets: " + "; ".join(limited),
        )
    return Comparison(model, rule.name, SAME, value, images="the study's datasets")


def _by_probe(pairs) -> str:
    """(probe, dataset) pairs as "accuracy on a, b; corruption on c", probes in first-seen order."""
    grouped: dict[str, list[str]] = {}
    for probe, dataset in pairs:
        if dataset not in grouped.setdefault(probe, []):
            grouped[probe].append(dataset)
    return "; ".join(f"{probe} on {', '.join(sorted(datasets))}" for probe, datasets in grouped.items())


def compare(
    rule: Rule, model: str, scores: pd.DataFrame, records: pd.DataFrame, jobs: Mapping[str, JobInfo]
) -> Comparison:
    """``model``'s value of ``rule``'s measurement and how it compares with the study's protocol.

    ``scores`` is the analysis' score table (percent), ``records`` its selected records and ``jobs`` the
    manifests' ``JobInfo`` by job key (limits, parameters, notes)."""
    if rule.score is not None:
        return _score_comparison(rule, model, scores, records, jobs)
    return _record_comparison(rule, model, records, jobs)


def comparisons(
    rules: tuple[Rule, ...], models: list[str], scores: pd.DataFrame, records: pd.DataFrame, jobs: Mapping[str, JobInfo]
) -> list[Comparison]:
    """``compare`` for every model and rule, models outer, rules in their order."""
    return [compare(rule, model, scores, records, jobs) for model in models for rule in rules]
