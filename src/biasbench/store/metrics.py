"""What a probe declares it emits: one ``Metric`` per record name, and the one way to select its records.

A probe lists its metrics in ``Probe.metrics``. The analysis, the plots, the report, ``biasbench probes`` and
the demo read these declarations instead of naming probe and metric strings: a metric with ``role="bias"``
enters the bias table, the correlations and the joint prediction, and the report draws it (its own section
when ``section`` names one, else the generic bias section: bars per model, sorted, with unit and direction).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from biasbench.store.conditions import Condition, parse_condition

# bias: a scalar per model that enters the correlations and the joint prediction; score: a member of a
# generalization score (or the accuracy an effective-robustness line reads); detail: a curve, a count, a
# setting or a diagnostic shown beside them.
Role = Literal["bias", "score", "detail"]
# bars: one bar per model, sorted; curve: a line per model over a condition field; none: not drawn on its own.
Draw = Literal["bars", "curve", "none"]


@dataclass(frozen=True)
class Metric:
    """One record name a probe emits.

    ``condition`` is the condition of the scalar (``""``: unperturbed) or ``None`` for a metric recorded at
    several conditions (a curve over ``over``, the kind of condition it varies, e.g. ``Band``). ``direction``
    says what a higher value means; ``noun`` names it in running text; ``section`` is the id of the report
    section that shows it ("" for a bias: the generic bias section); ``when`` says when it is emitted if not
    always (the contract test requires every metric without one); ``digits`` are its decimals in tables.
    """

    probe: str
    metric: str
    title: str
    unit: str
    direction: str
    role: Role = "detail"
    condition: str | None = ""
    over: type[Condition] | None = None
    noun: str = ""
    draw: Draw = "none"
    section: str = ""
    when: str = ""
    digits: int = 2  # decimals in the report's tables
    headline: bool = False  # one of the numbers the demo prints per model

    @property
    def name(self) -> str:
        """The column name of the metric in per-model tables (the record's metric name)."""
        return self.metric

    def describe(self) -> str:
        """One line for listings: name, unit, role and direction, the scalar's condition, when it is emitted."""
        where = "" if self.condition in ("", None) else f" at {self.condition!r}"
        role = "" if self.role == "detail" else f" {self.role};"
        when = f" (only: {self.when})" if self.when else ""
        return f"{self.metric} [{self.unit}]{where}:{role} higher = {self.direction}{when}"

    def rows(self, records: pd.DataFrame, dataset: str | None = None) -> pd.DataFrame:
        """The records of this metric: its probe and metric, at its condition (every condition of a curve;
        those of the kind ``over`` when it names one), of ``dataset`` when given."""
        return select(records, self.probe, self.metric, self.condition, dataset, self.over)


def select(
    records: pd.DataFrame,
    probe: str,
    metric: str,
    condition: str | None = None,
    dataset: str | None = None,
    kind: type[Condition] | None = None,
) -> pd.DataFrame:
    """The records of ``probe``'s ``metric`` (at ``condition``, of ``dataset`` when given; else at conditions
    of ``kind`` when given, read by ``store.conditions``): the one filter of records by what they measure."""
    mask = (records["probe"] == probe) & (records["metric"] == metric)
    conditions = records["condition"].fillna("").astype(str)
    if condition is not None:
        mask &= conditions == condition
    elif kind is not None:
        mask &= conditions.map({c: isinstance(parse_condition(c), kind) for c in conditions.unique()}).astype(bool)
    if dataset is not None:
        mask &= records["dataset"] == dataset
    return records[mask]


def probe_rows(records: pd.DataFrame, probes: str | Iterable[str]) -> pd.DataFrame:
    """The records of one probe (a name) or of several (names, e.g. those of some declared metrics)."""
    return records[probe_mask(records, probes)]


def probe_mask(records: pd.DataFrame, probes: str | Iterable[str]) -> pd.Series:
    """Which of ``records`` belong to the probe ``probes`` names (or to one of several)."""
    return records["probe"].isin({probes} if isinstance(probes, str) else set(probes))


def probes_of(metrics: Iterable[Metric]) -> frozenset[str]:
    """The probes that emit ``metrics``."""
    return frozenset(m.probe for m in metrics)
