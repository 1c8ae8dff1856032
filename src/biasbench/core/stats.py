"""Small statistics shared by probes: exact binomial intervals and a seeded percentile bootstrap."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats


def clopper_pearson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper–Pearson) interval for a binomial proportion; (nan, nan) when n = 0."""
    if n == 0:
        return float("nan"), float("nan")
    ci = stats.binomtest(successes, n).proportion_ci(confidence_level=confidence, method="exact")
    return float(ci.low), float(ci.high)


def bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    n: int,
    *,
    seed: int = 0,
    reps: int = 2000,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic(indices)`` over ``n`` items resampled with replacement.

    ``statistic`` receives an index array; NaN replicates (e.g. an undefined ratio) are dropped. ``reps=0``
    asks for no interval (NaN, NaN).
    """
    if n == 0 or reps == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(reps)], dtype=float)
    values = values[np.isfinite(values)]
    if not len(values):
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))
