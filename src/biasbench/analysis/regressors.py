"""Cross-validated regressors for ``explain``: each predicts every model's held-out value for many targets
at once (the observed target and its permutations are the columns of ``Y``), so a permutation test costs
matrix products instead of refits.

All three standardise (or rank) the features on the training fold only; a fold's test models never enter
its fit, its feature scaling or (ridge) its penalty choice.

- ``ols``: least squares with an intercept on standardised features.
- ``ridge``: ridge with an unpenalised intercept; the penalty is chosen per outer fold from ``ALPHAS`` by the
  exact leave-one-out error on that fold's training models (hat-matrix formula e_i / (1 - h_ii)).
- ``rank``: least squares on mid-ranks (the study's Spearman view): features and target become their
  mid-ECDF values u = (#{train < v} + #{train <= v}) / (2 n_train) within the training fold, the predicted
  u is mapped back to the target's scale by linear interpolation between the training fold's order
  statistics (u of the k-th smallest = (k + 0.5) / n_train), clipped to the training range.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

ALPHAS: np.ndarray = 10.0 ** np.arange(-2.0, 4.01, 0.5)  # ridge penalties on standardised features

Regressor = Callable[[np.ndarray, np.ndarray, Sequence[np.ndarray]], np.ndarray]


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(0), train.std(0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std


def _with_intercept(x: np.ndarray) -> np.ndarray:
    return np.hstack([np.ones((len(x), 1)), x])


def _split(n: int, test: np.ndarray) -> np.ndarray:
    mask = np.ones(n, bool)
    mask[test] = False
    return mask


def ols_cv(x: np.ndarray, y: np.ndarray, folds: Sequence[np.ndarray]) -> np.ndarray:
    """Held-out OLS predictions (n x B) of every column of ``y`` (n x B) from ``x`` (n x k)."""
    out = np.empty_like(y, dtype=float)
    for test in folds:
        train = _split(len(x), test)
        xtr, xte = _standardise(x[train], x[test])
        # Minimum-norm least squares: equals OLS for a full-rank design, stays defined otherwise.
        out[test] = _with_intercept(xte) @ (np.linalg.pinv(_with_intercept(xtr)) @ y[train])
    return out


def ols_cv_closed_form(x: np.ndarray, y: np.ndarray, folds: Sequence[np.ndarray]) -> np.ndarray:
    """The same held-out OLS predictions as ``ols_cv`` from one full-sample fit: with the hat matrix H of
    [1, x] and residuals e = y - H y, deleting fold G gives the held-out residuals (I - H_GG)⁻¹ e_G
    (e_i / (1 - h_ii) for one model). Exact while every training fold keeps the design's full rank."""
    z = _with_intercept(x)
    hat = z @ np.linalg.pinv(z)
    residual = y - hat @ y
    out = np.empty_like(y, dtype=float)
    for test in folds:
        block = np.eye(len(test)) - hat[np.ix_(test, test)]
        out[test] = y[test] - np.linalg.solve(block, residual[test])
    return out


def ridge_fold(
    xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, alphas: np.ndarray = ALPHAS
) -> tuple[np.ndarray, np.ndarray]:
    """Ridge on one training fold with the penalty chosen from that fold alone.

    ``xtr`` is standardised on the fold (columns centred), so the unpenalised intercept is the mean of
    ``ytr`` and the slopes come from the SVD xtr = U S Vᵀ: β_α = V diag(s / (s² + α)) Uᵀ y. Per column
    of ``ytr`` the chosen alpha minimises the exact leave-one-out error Σ (e_i / (1 - h_ii))², with
    h_ii = 1/n + Σ_k U_ik² s_k² / (s_k² + α); ties go to the smaller penalty. Returns (index of the chosen
    alpha per column, predictions for ``xte``: n_test x B).
    """
    n = len(xtr)
    u, sv, vt = np.linalg.svd(xtr, full_matrices=False)
    mean = ytr.mean(0)
    projected = u.T @ (ytr - mean)  # k x B
    shrink = sv**2 / (sv**2 + alphas[:, None])  # alphas x k
    leverage = 1.0 / n + (u**2) @ shrink.T  # n x alphas
    fitted = (u[None] * shrink[:, None, :]) @ projected  # alphas x n x B
    residual = (ytr - mean - fitted) / (1.0 - leverage.T)[:, :, None]
    choice = ((residual**2).mean(1)).argmin(0)  # first minimum = smallest penalty on ties
    coef = (vt.T[None] * (sv / (sv**2 + alphas[:, None]))[:, None, :]) @ projected  # alphas x p x B
    pred = mean + xte @ coef  # alphas x n_test x B
    return choice, np.take_along_axis(pred, choice[None, None, :], axis=0)[0]


def ridge_cv(x: np.ndarray, y: np.ndarray, folds: Sequence[np.ndarray], alphas: np.ndarray = ALPHAS) -> np.ndarray:
    """Held-out ridge predictions with the penalty chosen inside each training fold (nested CV)."""
    out = np.empty_like(y, dtype=float)
    for test in folds:
        train = _split(len(x), test)
        xtr, xte = _standardise(x[train], x[test])
        out[test] = ridge_fold(xtr, y[train], xte, alphas)[1]
    return out


def mid_ecdf(train: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(#{train < v} + #{train <= v}) / (2 len(train)) for each v in ``values`` (1-D arrays)."""
    ordered = np.sort(train)
    below = np.searchsorted(ordered, values, side="left")
    at_or_below = np.searchsorted(ordered, values, side="right")
    return (below + at_or_below) / (2.0 * len(train))


def _mid_ranks(y: np.ndarray) -> np.ndarray:
    """Column-wise mid-ECDF of ``y`` (n x B) against itself: (average rank - 0.5) / n."""
    return (stats.rankdata(y, axis=0, method="average") - 0.5) / len(y)


def rank_cv(x: np.ndarray, y: np.ndarray, folds: Sequence[np.ndarray]) -> np.ndarray:
    """Held-out predictions of OLS on mid-ranks, mapped back to the target's scale (see module doc)."""
    out = np.empty_like(y, dtype=float)
    for test in folds:
        train = _split(len(x), test)
        xtr, xte = x[train], x[test]
        utr = np.column_stack([mid_ecdf(xtr[:, j], xtr[:, j]) for j in range(x.shape[1])])
        ute = np.column_stack([mid_ecdf(xtr[:, j], xte[:, j]) for j in range(x.shape[1])])
        ytr = y[train]
        n = len(ytr)
        u_hat = _with_intercept(ute) @ (np.linalg.pinv(_with_intercept(utr)) @ _mid_ranks(ytr))
        position = np.clip(u_hat * n - 0.5, 0.0, n - 1.0)
        lo = np.minimum(np.floor(position).astype(int), n - 2)
        ordered = np.sort(ytr, axis=0)
        low = np.take_along_axis(ordered, lo, axis=0)
        high = np.take_along_axis(ordered, lo + 1, axis=0)
        out[test] = low + (position - lo) * (high - low)
    return out


REGRESSORS: dict[str, Regressor] = {"ols": ols_cv, "ridge": ridge_cv, "rank": rank_cv}
