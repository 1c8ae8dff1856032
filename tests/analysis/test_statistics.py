"""Correlation engine and multiple-comparison control against scipy and hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from biasbench.analysis.correlation import (
    correlate,
    correlation_table,
    loco_stability,
    mask_insignificant,
    wide,
)
from biasbench.analysis.multiple import benjamini_hochberg, holm
from biasbench.core.errors import UnknownNameError

RNG = np.random.default_rng(42)
X = RNG.normal(size=25)
Y = 0.6 * X + RNG.normal(size=25)
X_TIES = np.repeat(np.arange(8), 3).astype(float)  # ties, like the discrete critical-band parameters
Y_TIES = X_TIES + RNG.integers(0, 4, size=24)


@pytest.mark.parametrize(
    ("method", "reference"), [("spearman", stats.spearmanr), ("kendall", stats.kendalltau), ("pearson", stats.pearsonr)]
)
@pytest.mark.parametrize(("x", "y"), [(X, Y), (X_TIES, Y_TIES)])
def test_matches_scipy(method, reference, x, y):
    got = correlate(x, y, method, n_boot=0)
    want = reference(x, y)
    assert got.rho == pytest.approx(want.statistic, abs=1e-12)
    assert got.p == pytest.approx(want.pvalue, rel=1e-9)
    assert got.n == len(x) and np.isnan(got.ci_low)


@pytest.mark.parametrize("method", ["spearman", "kendall"])
def test_perfect_monotone_gives_plus_minus_one(method):
    x = np.arange(10.0)
    assert correlate(x, np.exp(x), method, n_boot=0).rho == pytest.approx(1.0)
    assert correlate(x, -(x**3), method, n_boot=0).rho == pytest.approx(-1.0)


def test_missing_rows_dropped_and_too_few_models_give_nan():
    x = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    assert correlate(x, [2, 4, 6, np.nan, 10], n_boot=0).n == 3
    assert np.isnan(correlate([1, 2], [1, 2], n_boot=0).rho)
    with pytest.raises(UnknownNameError, match="spearman"):
        correlate(X, Y, "spearmn")


def test_partial_correlation_removes_planted_confounder():
    rng = np.random.default_rng(0)
    accuracy = rng.normal(size=200)  # the confounder drives both, they share nothing else
    bias = accuracy + 0.3 * rng.normal(size=200)
    generalization = accuracy + 0.3 * rng.normal(size=200)
    for method in ("spearman", "pearson", "kendall"):
        plain = correlate(bias, generalization, method, n_boot=0)
        partial = correlate(bias, generalization, method, control=accuracy, n_boot=0)
        assert plain.rho > 0.7
        # Kendall's partial tau is known not to vanish under conditional independence; it only shrinks.
        assert abs(partial.rho) < (0.15 if method != "kendall" else plain.rho / 2)
    # Pearson partial equals the textbook formula from the three pairwise correlations.
    r = np.corrcoef([bias, generalization, accuracy])
    formula = (r[0, 1] - r[0, 2] * r[1, 2]) / np.sqrt((1 - r[0, 2] ** 2) * (1 - r[1, 2] ** 2))
    assert correlate(bias, generalization, "pearson", control=accuracy, n_boot=0).rho == pytest.approx(formula)


def test_bootstrap_ci_is_seeded_and_covers_the_truth():
    a = correlate(X, Y, n_boot=300, seed=1)
    assert a == correlate(X, Y, n_boot=300, seed=1)
    assert a.ci_low < a.rho < a.ci_high
    rng = np.random.default_rng(7)
    true_r, covered, sims = 0.5, 0, 60
    cov = [[1, true_r], [true_r, 1]]
    for _ in range(sims):
        x, y = rng.multivariate_normal([0, 0], cov, size=60).T
        c = correlate(x, y, "pearson", n_boot=300, seed=int(rng.integers(1 << 30)))
        covered += c.ci_low <= true_r <= c.ci_high
    assert covered / sims >= 0.85  # nominal 95 %; percentile bootstrap undercovers slightly at n = 60


def test_holm_and_bh_against_hand_values():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 -> 4*.005=.02, 3*.01=.03, 2*.03=.06, 1*.04=.04 -> cummax .06
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02, np.nan])
    # BH: m*p/rank = .02, .02, .04, .04 -> running min from the top
    np.testing.assert_allclose(benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02, np.nan])
    q = RNG.uniform(size=30)
    np.testing.assert_allclose(benjamini_hochberg(q), stats.false_discovery_control(q))


def _holm_by_hand(p):
    """The previous hand-written Holm (before statsmodels): cumulative max of (m - j + 1) p_(j), capped at 1."""
    p = np.asarray(p, float)
    out, valid = np.full(p.shape, np.nan), np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    out[order] = np.minimum(1.0, np.maximum.accumulate((len(order) - np.arange(len(order))) * p[order]))
    return out


def _bh_by_hand(p):
    """The previous hand-written BH: reverse cumulative min of m p_(j) / j, capped at 1."""
    p = np.asarray(p, float)
    out, valid = np.full(p.shape, np.nan), np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = len(order)
    out[order] = np.minimum(1.0, np.minimum.accumulate((m * p[order] / np.arange(1, m + 1))[::-1])[::-1])
    return out


def test_holm_and_bh_equal_the_previous_hand_written_adjustments():
    rng = np.random.default_rng(11)
    for trial in range(200):
        m = int(rng.integers(1, 40))
        p = rng.uniform(size=m) ** rng.uniform(0.2, 4)
        if trial % 2:
            p[rng.uniform(size=m) < 0.25] = np.nan  # untested cells stay NaN and out of the family
        if trial % 3 == 0:
            p = np.round(p, 2)  # ties
        np.testing.assert_array_equal(holm(p), _holm_by_hand(p))  # same products: bit-identical
        # statsmodels divides by j/m where the hand-written form multiplied by m/j: equal to one ulp
        np.testing.assert_allclose(benjamini_hochberg(p), _bh_by_hand(p), rtol=1e-15, atol=0)
        assert np.array_equal(np.isnan(benjamini_hochberg(p)), np.isnan(p))
    assert np.isnan(holm(np.array([np.nan, np.nan]))).all() and holm(np.array([])).shape == (0,)


def _tables():
    rng = np.random.default_rng(3)
    models = pd.Index([f"m{i}" for i in range(30)], name="model")
    cats = pd.Series(["adversarial_training"] * 10 + ["augmentation"] * 10 + ["contrastive"] * 10, index=models)
    acc = pd.Series(rng.normal(size=30), index=models)
    biases = pd.DataFrame({"b1": acc + 0.2 * rng.normal(size=30), "b2": rng.normal(size=30)}, index=models)
    scores = pd.DataFrame({"id": acc + 0.2 * rng.normal(size=30)}, index=models)
    return biases, scores, cats, acc


def test_table_subsets_partial_masking_and_adjustment():
    biases, scores, cats, acc = _tables()
    table = correlation_table(biases, scores, categories=cats, loco=True, control=acc, n_boot=50)
    assert set(table["subset"]) == {"total", "at", "other", *(f"without:{c}" for c in cats.unique())}
    at = table[(table.subset == "at") & (table.bias == "b1") & (table.control == "none")].iloc[0]
    mask = cats == "adversarial_training"
    assert at["n"] == 10
    assert at["rho"] == pytest.approx(stats.spearmanr(biases.b1[mask], scores.id[mask]).statistic)
    b2 = table[(table.subset == "total") & (table.bias == "b2") & (table.control == "none")].iloc[0]
    assert (b2["rho_masked"] == 0.0) == (b2["p"] >= 0.05)
    assert (table["p_holm"].dropna() >= table.loc[table["p_holm"].notna(), "p"] - 1e-15).all()
    assert wide(table, "total").shape == (2, 1)
    stab = loco_stability(table)
    assert stab.set_index(["bias", "control"]).loc[("b1", "none"), "sign_stable"]


def test_mask_rule_keeps_nan_when_p_undefined():
    frame = pd.DataFrame({"rho": [0.5, 0.2, 0.3, np.nan], "p": [0.01, 0.2, np.nan, np.nan]})
    np.testing.assert_array_equal(mask_insignificant(frame).to_numpy(), [0.5, 0.0, np.nan, np.nan])
