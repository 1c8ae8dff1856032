"""The linear probe: a closed-form ridge classifier on standardised features, its regulariser chosen on a
held-out split of the training examples (as VTAB-1k's 800/200 split), then refitted on all of them.

The fit is exactly scikit-learn's ``StandardScaler`` + ``RidgeClassifier(alpha)`` (±1 one-vs-rest targets,
centred intercept), computed for the whole regulariser grid from one SVD; the tests use sklearn as oracle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from biasbench.core.errors import BiasbenchError

DEFAULT_ALPHAS: tuple[float, ...] = tuple(float(a) for a in np.logspace(-2, 5, 15))
"""Ridge strengths tried on the held-out split (features are standardised, so the grid is scale-free)."""


@dataclass(frozen=True)
class RidgeProbe:
    """A fitted linear probe: standardisation, weights (D, C), intercepts (C,) and the class of each column."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    classes: np.ndarray
    alpha: float

    def decision_function(self, features: np.ndarray) -> np.ndarray:
        """(N, C) scores; the prediction is the arg-max column."""
        return ((features - self.mean) / self.scale) @ self.coef + self.intercept

    def predict(self, features: np.ndarray) -> np.ndarray:
        return self.classes[np.argmax(self.decision_function(features), axis=1)]


def _standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale as sklearn's StandardScaler (population std; constant features keep scale 1)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    return mean, np.where(scale < 10 * np.finfo(np.float64).eps, 1.0, scale)


def _targets(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """±1 one-vs-rest targets (a single column for two classes, as sklearn's RidgeClassifier)."""
    y = np.where(labels[:, None] == classes[None, :], 1.0, -1.0)
    return y[:, 1:] if len(classes) == 2 else y


def fit_ridge_path(
    features: np.ndarray, labels: np.ndarray, alphas: tuple[float, ...]
) -> tuple[list[RidgeProbe], np.ndarray]:
    """Ridge classifiers for every ``alpha`` from one SVD of the centred, standardised features."""
    x = np.asarray(features, dtype=np.float64)
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if len(classes) < 2:
        raise BiasbenchError(f"the linear probe needs at least two classes among its training examples, got {classes}")
    mean, scale = _standardise(x)
    z = (x - mean) / scale
    y = _targets(labels, classes)
    y_mean = y.mean(axis=0)
    z_mean = z.mean(axis=0)  # zero up to rounding; centred exactly as sklearn's Ridge(fit_intercept=True)
    u, s, vt = np.linalg.svd(z - z_mean, full_matrices=False)
    uty = u.T @ (y - y_mean)
    probes = []
    for alpha in alphas:
        coef = vt.T @ ((s / (s * s + alpha))[:, None] * uty)
        intercept = y_mean - z_mean @ coef
        if len(classes) == 2:  # one column: score of class 1; expand to two columns with the same arg-max
            coef, intercept = np.hstack([-coef, coef]), np.concatenate([-intercept, intercept])
        probes.append(RidgeProbe(mean, scale, coef, intercept, classes, float(alpha)))
    return probes, classes


def holdout_split(n: int, val_fraction: float, seed: int, chosen: str) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, validation) positions of ``n`` training examples, ``val_fraction`` held out to choose
    the hyperparameter named ``chosen`` (VTAB-1k: 800/200)."""
    n_val = int(round(n * val_fraction))
    if n_val < 1 or n - n_val < 2:
        raise BiasbenchError(f"{n} training examples are too few to hold out {val_fraction:.0%} for choosing {chosen}")
    order = np.random.default_rng(seed).permutation(n)
    return order[n_val:], order[:n_val]


def select_and_fit(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    val_fraction: float = 0.2,
    alphas: tuple[float, ...] = DEFAULT_ALPHAS,
    seed: int = 0,
) -> tuple[RidgeProbe, dict[float, float]]:
    """Pick ``alpha`` by accuracy on a seeded held-out ``val_fraction`` of the training examples (ties go to
    the stronger regulariser), refit on all of them; also returns the validation accuracy per alpha."""
    train, val = holdout_split(len(labels), val_fraction, seed, "alpha")
    probes, _ = fit_ridge_path(features[train], labels[train], alphas)
    scores = {p.alpha: float(np.mean(p.predict(features[val]) == labels[val])) for p in probes}
    best = max(sorted(alphas, reverse=True), key=lambda a: scores[a])
    (final,), _ = fit_ridge_path(features, labels, (best,))
    return final, scores
