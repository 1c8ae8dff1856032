"""Exact binomial intervals (core/stats.py)."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from biasbench.core.stats import clopper_pearson


def _beta_quantiles(k: int, n: int, confidence: float) -> tuple[float, float]:
    """The previous closed form: beta quantiles (Clopper & Pearson 1934), 0 and 1 at the ends."""
    alpha = 1.0 - confidence
    low = 0.0 if k == 0 else stats.beta.ppf(alpha / 2, k, n - k + 1)
    high = 1.0 if k == n else stats.beta.ppf(1 - alpha / 2, k + 1, n - k)
    return float(low), float(high)


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_clopper_pearson_equals_the_beta_quantile_form(confidence):
    for n in (1, 2, 3, 7, 10, 50, 100, 792, 1000, 10_000, 50_000):
        for k in sorted({0, 1, 2, n // 7, n // 3, n // 2, n - 1, n} & set(range(n + 1))):
            got = clopper_pearson(k, n, confidence)
            assert got == pytest.approx(_beta_quantiles(k, n, confidence), abs=1e-12, rel=0), (k, n)


def test_clopper_pearson_known_values_and_empty():
    # at k = 0 the upper bound solves (1 - p)^n = alpha/2; at k = n the lower bound solves p^n = alpha/2
    assert clopper_pearson(0, 10) == (0.0, pytest.approx(1 - 0.025**0.1, abs=1e-12))
    assert clopper_pearson(10, 10) == (pytest.approx(0.025**0.1, abs=1e-12), 1.0)
    assert all(math.isnan(v) for v in clopper_pearson(0, 0))
