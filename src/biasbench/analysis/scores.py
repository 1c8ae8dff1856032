"""Per-model tables derived from tidy records: generalization scores (percent) and scalar biases."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from biasbench.analysis.selection import JobSelector
from biasbench.analysis.specs import BIASES, IMAGENET_TOP1, SCORES, BiasSpec, Member, ScoreSpec
from biasbench.store.conditions import canonical_condition


def normalise_records(records: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``records`` with canonical conditions (numbers compare by value: ``"lowpass/0.30000000000000004"``
    reads as ``"lowpass/0.3"``) and no missing dataset/condition strings."""
    out = records.copy()
    for column in ("dataset", "condition"):
        out[column] = out[column].fillna("").astype(str)
    out["condition"] = out["condition"].map({c: canonical_condition(c) for c in out["condition"].unique()})
    return out


@dataclass
class Derived:
    """A model x column table plus human-readable notes on what could not be derived and why."""

    values: pd.DataFrame
    notes: list[str] = field(default_factory=list)


# The columns that identify one number besides model and probe. Scores name the dataset of each member;
# a bias may come from any dataset, but only one per model (two are a conflict the selector reports).
SCORE_MEASUREMENT = ("dataset", "metric", "condition")
BIAS_MEASUREMENT = ("metric", "condition")


def one_per_model(rows: pd.DataFrame) -> pd.Series:
    """``value`` per model from rows already reduced to one job per model; refuses to average duplicates."""
    duplicated = rows["model"].duplicated(keep=False)
    if duplicated.any():
        first = rows[duplicated].iloc[0]
        raise ValueError(
            f"{int(duplicated.sum())} records share model {first['model']!r} and key "
            f"{first['probe']}/{first['dataset']}/{first['metric']}/{first['condition']!r} within one job; "
            "a probe must emit each (metric, condition) once"
        )
    return rows.set_index("model")["value"]


def _member_values(records: pd.DataFrame, member: Member) -> pd.Series:
    rows = records[
        (records["probe"] == member.probe)
        & (records["dataset"] == member.dataset)
        & (records["metric"] == member.metric)
        & (records["condition"] == member.condition)
    ]
    return one_per_model(rows)


def _score(records: pd.DataFrame, spec: ScoreSpec, models: pd.Index, notes: list[str]) -> pd.Series:
    table = pd.DataFrame({m.label: _member_values(records, m) for m in spec.members}).reindex(models)
    # Incomplete scores are NaN, never a mean over fewer members (that would change the score's meaning).
    for model, row in table.iterrows():
        missing = [label for label, v in row.items() if pd.isna(v)]
        if missing and len(missing) < len(row):
            notes.append(f"{spec.title} of {model} is incomplete: missing {', '.join(missing)}.")
    return table.mean(axis=1, skipna=False) * spec.scale


def generalization_scores(
    records: pd.DataFrame, scores: tuple[ScoreSpec, ...] = SCORES, selector: JobSelector | None = None
) -> Derived:
    """ID / Robustness / Concepts / Adversarial in percent per model (Gavrikov & Keuper 2024, METHODS §5.3).

    Each score is the unweighted mean of its members' accuracies (fractions in the records) x 100. A score
    with a missing member is NaN and named in ``notes``. Also returns ``imagenet_top1`` (percent), the
    accuracy used as the control in partial correlations. Each number is read from exactly one job per
    model, chosen by ``selector`` (default: the rule of ``biasbench.analysis.selection``, no manifests).
    """
    selector = selector or JobSelector()
    models = pd.Index(sorted(records["model"].unique()), name="model")
    probes = {m.probe for s in scores for m in s.members} | {IMAGENET_TOP1.probe}
    records = selector.select(normalise_records(records[records["probe"].isin(probes)]), SCORE_MEASUREMENT)
    notes: list[str] = []
    table = pd.DataFrame({s.name: _score(records, s, models, notes) for s in scores}, index=models)
    table["imagenet_top1"] = _member_values(records, IMAGENET_TOP1).reindex(models) * 100.0
    for spec in scores:
        if table[spec.name].isna().all():
            wanted = "; ".join(f"{m.label} {m.condition!r}" if m.condition else m.label for m in spec.members)
            notes.append(f"No model has a complete {spec.title} score (needs records {wanted}).")
    return Derived(table, notes)


def _bias(records: pd.DataFrame, spec: BiasSpec) -> pd.Series:
    rows = records[
        (records["probe"] == spec.probe) & (records["metric"] == spec.metric) & (records["condition"] == spec.condition)
    ]
    return one_per_model(rows)


def bias_table(
    records: pd.DataFrame, biases: tuple[BiasSpec, ...] = BIASES, selector: JobSelector | None = None
) -> Derived:
    """Scalar biases per model (shape bias, LFB/HFB, critical-band BW/CF/PNS; METHODS §2-4), each the
    probe's own record (e.g. spectral's ``low_freq_bias``, the mean ratio-to-clean over its
    ``bias_cutoffs``), read from exactly one job per model (see ``generalization_scores``)."""
    selector = selector or JobSelector()
    models = pd.Index(sorted(records["model"].unique()), name="model")
    # Only the bias probes' jobs: any dataset will do for a bias, so other probes' records (accuracy on several
    # datasets) would be false conflicts.
    records = records[records["probe"].isin({b.probe for b in biases})]
    records = selector.select(normalise_records(records), BIAS_MEASUREMENT)
    notes: list[str] = []
    table = pd.DataFrame({b.name: _bias(records, b).reindex(models) for b in biases}, index=models)
    for spec in biases:
        if table[spec.name].isna().all():
            notes.append(f"No model has {spec.title}: run probe `{spec.probe}` (records metric `{spec.metric}`).")
    return Derived(table.astype(float), notes)
