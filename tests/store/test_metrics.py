"""Selecting records by declaration: a curve's records are those whose condition is of the kind it varies."""

from __future__ import annotations

import pandas as pd

from biasbench.store.conditions import Attack, Band
from biasbench.store.metrics import Metric, select

CURVE = Metric("critical-band", "threshold", "Threshold", "noise index", "more noise", condition=None, over=Band)


def _records(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"model": "m", "probe": p, "dataset": "d", "metric": k, "condition": c, "value": 1.0} for p, k, c in rows]
    )


def test_curve_rows_are_those_of_its_condition_kind_not_a_text_prefix():
    records = _records(
        [
            ("critical-band", "threshold", "band/0"),
            ("critical-band", "threshold", "band/12"),
            ("critical-band", "threshold", "band/x"),  # starts like a band but is not one (a name)
            ("critical-band", "threshold", "bandpass"),
            ("critical-band", "threshold", ""),
            ("critical-band", "top1", "band/1"),  # another metric
            ("spectral", "threshold", "band/1"),  # another probe
        ]
    )
    assert CURVE.rows(records)["condition"].tolist() == ["band/0", "band/12"]


def test_attack_kind_keeps_a_fraction_epsilon_whole():
    records = _records(
        [
            ("adversarial", "robust_accuracy", "pgd/linf/eps=0.5/255"),
            ("adversarial", "robust_accuracy", "fgsm/linf/eps=1/255/steps=1"),
            ("adversarial", "robust_accuracy", "pgd"),
            ("adversarial", "robust_accuracy", ""),
        ]
    )
    got = select(records, "adversarial", "robust_accuracy", kind=Attack)["condition"].tolist()
    assert got == ["pgd/linf/eps=0.5/255", "fgsm/linf/eps=1/255/steps=1"]
    assert select(records.iloc[:0], "adversarial", "robust_accuracy", kind=Attack).empty


def test_a_scalar_condition_wins_over_the_kind():
    records = _records([("critical-band", "threshold", "band/0"), ("critical-band", "threshold", "band/1")])
    assert select(records, "critical-band", "threshold", "band/1", kind=Band)["condition"].tolist() == ["band/1"]
