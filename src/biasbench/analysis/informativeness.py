"""Informativeness of a metric (Djolonga et al., CVPR 2021; CONTAMINATION_AND_META.md B.1): how much it
adds to ImageNet accuracy when predicting a model's group (training category) with multinomial logistic
regression, scored by leave-one-model-out accuracy, with a bootstrap over models.

Choices where the source is silent: features standardised on the training fold, L2 penalty with fixed
C = 1 (no inner search), groups with fewer than ``min_group_size`` models dropped (they can never be
predicted when held out), bootstrap copies of one model held out together.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy.special import log_softmax, softmax


def _objective(xb: np.ndarray, onehot: np.ndarray, w: np.ndarray, penalty: np.ndarray) -> float:
    return float(-(onehot * log_softmax(xb @ w, axis=1)).sum() + 0.5 * (penalty[:, None] * w**2).sum())


def _fit(x: np.ndarray, y: np.ndarray, n_classes: int, c: float, steps: int = 50) -> np.ndarray:
    """Weights (features + 1) x classes of L2-penalised multinomial logistic regression, by damped Newton.

    The problem is tiny (a few features, a dozen classes), so exact Newton steps converge in a handful of
    iterations where a quasi-Newton solver needs hundreds on nearly separable groups. The intercept gets
    a negligible ridge only to make the Hessian invertible (softmax is invariant to a common shift).
    """
    xb = np.hstack([x, np.ones((len(x), 1))])
    d = xb.shape[1]
    onehot = np.eye(n_classes)[y]
    penalty = np.r_[np.full(d - 1, 1.0 / c), 1e-6]
    w = np.zeros((d, n_classes))
    value = _objective(xb, onehot, w, penalty)
    for _ in range(steps):
        p = softmax(xb @ w, axis=1)
        grad = xb.T @ (p - onehot) + penalty[:, None] * w
        curvature = p[:, :, None] * np.eye(n_classes) - p[:, :, None] * p[:, None, :]
        hess = np.einsum("ia,ib,igh->agbh", xb, xb, curvature).reshape(d * n_classes, d * n_classes)
        hess += np.diag(np.repeat(penalty, n_classes))
        step = np.linalg.solve(hess, grad.ravel()).reshape(d, n_classes)
        t = 1.0
        while t > 1e-4:  # backtracking keeps every step a descent step
            candidate = _objective(xb, onehot, w - t * step, penalty)
            if candidate <= value:
                break
            t /= 2
        w, previous, value = w - t * step, value, candidate
        if previous - value < 1e-9 * max(1.0, abs(value)):
            break
    return w


def loo_accuracy(features: np.ndarray, labels: np.ndarray, units: np.ndarray, c: float = 1.0) -> float:
    """Leave-one-unit-out accuracy of predicting ``labels`` (ints) from ``features`` (rows x k).

    ``units`` identifies original models, so bootstrap duplicates are held out together.
    """
    n_classes = int(labels.max()) + 1
    correct = 0
    for unit in np.unique(units):
        test = units == unit
        train = ~test
        mean, std = features[train].mean(0), features[train].std(0)
        std[std == 0] = 1.0
        w = _fit((features[train] - mean) / std, labels[train], n_classes, c)
        xt = np.hstack([(features[test] - mean) / std, np.ones((test.sum(), 1))])
        correct += int(((xt @ w).argmax(1) == labels[test]).sum())
    return correct / len(labels)


def informativeness(
    table: pd.DataFrame,
    groups: pd.Series,
    base: str,
    metrics: Sequence[str],
    *,
    max_extra: int = 1,
    n_boot: int = 1000,
    seed: int = 0,
    c: float = 1.0,
    min_group_size: int = 2,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Per feature set {base, metric(s)}: LOO accuracy, improvement over {base} with a percentile
    bootstrap interval, and ``boot_fraction_gain_positive``, the fraction of the ``n_boot`` resamples whose
    gain is > 0 (a descriptive bootstrap share, not a p-value). Sorted by the gain."""
    data = table[[base, *metrics]].join(groups.rename("_group"), how="inner").dropna()
    sizes = data["_group"].value_counts()
    data = data[data["_group"].isin(sizes[sizes >= min_group_size].index)]
    labels = pd.factorize(data["_group"])[0]
    sets = [(base,)] + [(base, *extra) for k in range(1, max_extra + 1) for extra in combinations(metrics, k)]
    units = np.arange(len(data))

    def scores(rows: np.ndarray) -> np.ndarray:
        lab = pd.factorize(labels[rows])[0]  # classes absent from a resample are dropped
        return np.array([loo_accuracy(data[list(s)].to_numpy(float)[rows], lab, units[rows], c) for s in sets])

    point = scores(units)
    rng = np.random.default_rng(seed)
    boots = np.array([scores(rng.integers(0, len(data), len(data))) for _ in range(n_boot)]).reshape(-1, len(sets))
    gain = boots[:, 1:] - boots[:, :1]
    tail = (1 - confidence) / 2 * 100
    rows = []
    for i, s in enumerate(sets):
        g = gain[:, i - 1] if i and n_boot else np.array([np.nan])
        rows.append(
            {
                "features": " + ".join(s),
                "loo_accuracy": point[i],
                "boot_mean": boots[:, i].mean() if n_boot else np.nan,
                "gain": point[i] - point[0],
                "gain_ci_low": np.nanpercentile(g, tail) if i and n_boot else np.nan,
                "gain_ci_high": np.nanpercentile(g, 100 - tail) if i and n_boot else np.nan,
                "boot_fraction_gain_positive": float((g > 0).mean()) if i and n_boot else np.nan,
                "n_boot": n_boot,
                "n_models": len(data),
                "n_groups": int(labels.max()) + 1,
            }
        )
    return pd.DataFrame(rows).sort_values("gain", ascending=False, kind="stable").reset_index(drop=True)


def category_informativeness(
    table: pd.DataFrame, categories: pd.Series, n_boot: int = 1000, seed: int = 0, min_models: int = 8
) -> pd.DataFrame | None:
    """Informativeness of each bias column of ``table`` (``bias_names()``) beyond ImageNet top-1 for
    predicting the model category; None when top-1, the biases or enough categorised models are missing."""
    from biasbench.analysis.specs import bias_names

    base = "imagenet_top1"
    metrics = [b for b in bias_names() if b in table.columns and table[b].notna().sum() >= min_models]
    if base not in table.columns or not metrics:
        return None
    known = categories[categories != "uncategorised"]
    complete = table[[base, *metrics]].dropna().index.intersection(known.index)
    if len(complete) < min_models or (known[complete].value_counts() >= 2).sum() < 2:
        return None
    return informativeness(table, known, base, metrics, n_boot=n_boot, seed=seed)
