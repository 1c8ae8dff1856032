"""Per-model tables derived from tidy records: generalization scores (percent) and scalar biases."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from biasbench.analysis.specs import BIASES, IMAGENET_TOP1, SCORES, BiasSpec, Member, ScoreSpec

_FLOAT_CONDITION = re.compile(r"^(?P<prefix>.*/)(?P<value>[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)$")


def canonical_condition(condition: str) -> str:
    """``"lowpass/0.30000000000000004"`` -> ``"lowpass/0.3"``: float keys compare by value, not by text."""
    match = _FLOAT_CONDITION.match(condition or "")
    if not match:
        return condition or ""
    return f"{match['prefix']}{round(float(match['value']), 6):g}"


def normalise_records(records: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``records`` with canonical conditions and no missing dataset/condition strings."""
    out = records.copy()
    for column in ("dataset", "condition"):
        out[column] = out[column].fillna("").astype(str)
    out["condition"] = out["condition"].map(canonical_condition)
    return out


@dataclass
class Derived:
    """A model x column table plus human-readable notes on what could not be derived and why."""

    values: pd.DataFrame
    notes: list[str] = field(default_factory=list)


def _member_values(records: pd.DataFrame, member: Member) -> pd.Series:
    rows = records[
        (records["probe"] == member.probe)
        & (records["dataset"] == member.dataset)
        & (records["metric"] == member.metric)
        & (records["condition"] == member.condition)
    ]
    return rows.groupby("model")["value"].mean()


def _score(records: pd.DataFrame, spec: ScoreSpec, models: pd.Index, notes: list[str]) -> pd.Series:
    table = pd.DataFrame({m.label: _member_values(records, m) for m in spec.members}).reindex(models)
    # Incomplete scores are NaN, never a mean over fewer members (that would change the score's meaning).
    for model, row in table.iterrows():
        missing = [label for label, v in row.items() if pd.isna(v)]
        if missing and len(missing) < len(row):
            notes.append(f"{spec.title} of {model} is incomplete: missing {', '.join(missing)}.")
    return table.mean(axis=1, skipna=False) * spec.scale


def generalization_scores(records: pd.DataFrame, scores: tuple[ScoreSpec, ...] = SCORES) -> Derived:
    """ID / Robustness / Concepts / Adversarial in percent per model (Gavrikov & Keuper 2024, METHODS §5.3).

    Each score is the unweighted mean of its members' accuracies (fractions in the records) x 100. A score
    with a missing member is NaN and named in ``notes``. Also returns ``imagenet_top1`` (percent), the
    accuracy used as the control in partial correlations.
    """
    records = normalise_records(records)
    models = pd.Index(sorted(records["model"].unique()), name="model")
    notes: list[str] = []
    table = pd.DataFrame({s.name: _score(records, s, models, notes) for s in scores}, index=models)
    table["imagenet_top1"] = _member_values(records, IMAGENET_TOP1).reindex(models) * 100.0
    for spec in scores:
        if table[spec.name].isna().all():
            wanted = "; ".join(m.label for m in spec.members)
            notes.append(f"No model has a complete {spec.title} score (needs records {wanted}).")
    return Derived(table, notes)


def _bias(records: pd.DataFrame, spec: BiasSpec, models: pd.Index, notes: list[str]) -> pd.Series:
    rows = records[(records["probe"] == spec.probe) & (records["metric"] == spec.metric)]
    table = rows.pivot_table(index="model", columns="condition", values="value", aggfunc="mean")
    table = table.reindex(index=models, columns=list(spec.conditions))
    for model, row in table.iterrows():
        missing = [c for c, v in row.items() if pd.isna(v)]
        if missing and len(missing) < len(row):
            notes.append(f"{spec.title} of {model} is incomplete: missing conditions {', '.join(missing)}.")
    return table.mean(axis=1, skipna=False)


def bias_table(records: pd.DataFrame, biases: tuple[BiasSpec, ...] = BIASES) -> Derived:
    """Scalar biases per model (shape bias, LPP, HPP, critical-band BW/CF/PNS; METHODS §2-4).

    LPP/HPP are the mean ratio-to-clean over the cut-offs 0.1-0.5 of ``spectral`` records; a bias with
    any missing condition is NaN and named in ``notes``.
    """
    records = normalise_records(records)
    models = pd.Index(sorted(records["model"].unique()), name="model")
    notes: list[str] = []
    table = pd.DataFrame({b.name: _bias(records, b, models, notes) for b in biases}, index=models)
    for spec in biases:
        if table[spec.name].isna().all():
            notes.append(f"No model has {spec.title}: run probe `{spec.probe}` (records metric `{spec.metric}`).")
    return Derived(table.astype(float), notes)
