"""Generalization scores and bias extraction from records."""

from __future__ import annotations

import numpy as np
import pytest

from biasbench.analysis.scores import bias_table, canonical_condition, generalization_scores
from biasbench.analysis.specs import SCORES

from .conftest import make_records, synthetic_records


def test_canonical_condition():
    assert canonical_condition("lowpass/0.30000000000000004") == "lowpass/0.3"
    assert canonical_condition("band/3") == "band/3"
    assert canonical_condition("layer3.0.conv1") == "layer3.0.conv1"
    assert canonical_condition("") == ""


def test_scores_are_percent_means_of_fractions():
    rows = []
    for spec in SCORES:
        for k, m in enumerate(spec.members):
            rows.append(("a", m.probe, m.dataset, m.metric, m.condition, 0.1 * (k + 1)))
    table = generalization_scores(make_records(rows)).values
    assert table.at["a", "id"] == pytest.approx(20.0)  # mean(10, 20, 30) %
    assert table.at["a", "adversarial"] == pytest.approx(10.0)
    assert table.at["a", "imagenet_top1"] == pytest.approx(10.0)


def test_incomplete_score_is_nan_with_note():
    records = synthetic_records(2)
    records = records[~((records.model == "m0") & (records.dataset == "imagenet-real"))]
    derived = generalization_scores(records)
    assert np.isnan(derived.values.at["m0", "id"]) and np.isfinite(derived.values.at["m1", "id"])
    assert any("ID of m0 is incomplete" in n and "imagenet-real" in n for n in derived.notes)


def test_lfb_hfb_are_the_probes_own_records():
    records = synthetic_records(2)
    biases = bias_table(records).values
    # m1: lowpass ratio = min(1, c + 0.1) at c = .1 .2 .3 .4 .5 -> mean .4; highpass = 0.1 c -> 0.03
    assert biases.at["m1", "low_freq_bias"] == pytest.approx(0.4)
    assert biases.at["m1", "high_freq_bias"] == pytest.approx(0.03)
    assert biases.at["m0", "shape_bias"] == pytest.approx(0.2)
    # a probe run with other bias_cutoffs reports another value: the analysis takes it, never recomputes
    records.loc[(records["model"] == "m1") & (records["metric"] == "low_freq_bias"), "value"] = 0.77
    assert bias_table(records).values.at["m1", "low_freq_bias"] == pytest.approx(0.77)
    no_bias = records[records["metric"] != "low_freq_bias"]  # the curve alone does not give the bias
    assert bias_table(no_bias).values["low_freq_bias"].isna().all()


def test_missing_bias_noted():
    derived = bias_table(synthetic_records(2))
    assert derived.values["bandwidth"].isna().all()
    assert any("critical-band" in n for n in derived.notes)
