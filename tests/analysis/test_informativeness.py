"""Informativeness (Djolonga et al. 2021): a metric that separates groups beyond accuracy must gain."""

from __future__ import annotations

import numpy as np
import pandas as pd

from biasbench.analysis.informativeness import informativeness, loo_accuracy


def test_loo_accuracy_on_separable_groups():
    x = np.r_[np.zeros(5), np.ones(5) * 10][:, None] + np.linspace(0, 0.1, 10)[:, None]
    labels = np.r_[np.zeros(5, int), np.ones(5, int)]
    assert loo_accuracy(x, labels, np.arange(10)) == 1.0


def test_planted_metric_is_informative_and_noise_is_not():
    rng = np.random.default_rng(0)
    groups = pd.Series(np.repeat(["a", "b", "c"], 8), index=[f"m{i}" for i in range(24)])
    table = pd.DataFrame(
        {
            "acc": rng.normal(size=24),  # same distribution in every group: uninformative
            "signal": groups.map({"a": 0.0, "b": 3.0, "c": 6.0}).to_numpy() + 0.3 * rng.normal(size=24),
            "noise": rng.normal(size=24),
        },
        index=groups.index,
    )
    result = informativeness(table, groups, "acc", ["signal", "noise"], n_boot=3, seed=0).set_index("features")
    assert result.at["acc + signal", "loo_accuracy"] > 0.9
    assert result.at["acc + signal", "gain"] > 0.4
    assert result.at["acc + signal", "gain_ci_low"] > 0
    assert result.at["acc + noise", "gain"] < 0.2
