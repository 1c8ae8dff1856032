"""The accuracy-on-the-line fit of effective robustness (Taori et al., NeurIPS 2020; ImageNet-testbed).

As ImageNet-testbed's ``plotting/plotter.py`` does: both accuracies are mapped through the axis transform (logit
by default, ``log(p / (1 - p))``; probit and linear are its alternatives), a least-squares line
(``scipy.stats.linregress``) is fitted to the reference models, and its coefficients get percentile bootstrap
CIs over the reference models (lower / higher order statistics, as its ``get_bootstrap_cis``). A model's
effective robustness is its OOD accuracy minus the line's prediction at its ID accuracy, mapped back to
accuracy (``paper_appendix_eff_robust.py``), here in percentage points.

A line fitted to reference models that span little ID accuracy is not pinned down; ``LineFit.stable`` is False
when the slope's bootstrap CI is wider than ``MAX_SLOPE_CI_WIDTH``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from biasbench.core.errors import UnknownNameError

Array = np.ndarray

# A 95 % CI of the slope wider than 1 cannot tell a line parallel to y = x from one twice as steep (or flat):
# the reference models do not determine the line, and ER away from their ID range follows resampling noise.
MAX_SLOPE_CI_WIDTH = 1.0


def _identity(a: Array) -> Array:
    return a


@dataclass(frozen=True)
class Transform:
    """An axis scaling of accuracies (fractions in [0, 1]) and its inverse."""

    name: str
    forward: Callable[[Array], Array]
    inverse: Callable[[Array], Array]


TRANSFORMS: dict[str, Transform] = {
    "logit": Transform("logit", special.logit, special.expit),
    "probit": Transform("probit", stats.norm.ppf, stats.norm.cdf),
    "linear": Transform("linear", _identity, _identity),
}


def get_transform(name: str) -> Transform:
    """The registered axis transform ``name`` (logit, probit, linear)."""
    try:
        return TRANSFORMS[name]
    except KeyError:
        raise UnknownNameError("axis transform", name, TRANSFORMS) from None


def _ols_rows(x: Array, y: Array) -> tuple[Array, Array]:
    """Least-squares slope and intercept of every row of ``y`` on the same row of ``x``; NaN where x is constant."""
    xm, ym = x.mean(-1, keepdims=True), y.mean(-1, keepdims=True)
    sxx = ((x - xm) ** 2).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(sxx > 1e-15, ((x - xm) * (y - ym)).sum(-1) / sxx, np.nan)
    return slope, ym[..., 0] - slope * xm[..., 0]


def percentile_ci(draws: Array, confidence: float, axis: int = 0) -> tuple[Array, Array]:
    """ImageNet-testbed's percentile interval: the lower / higher order statistic at each tail (no
    interpolation), ignoring NaN draws."""
    tail = (1 - confidence) / 2 * 100
    return (
        np.nanpercentile(draws, tail, axis=axis, method="lower"),
        np.nanpercentile(draws, 100 - tail, axis=axis, method="higher"),
    )


@dataclass
class LineFit:
    """A line ``T(y) = slope * T(x) + intercept`` through the reference models in transformed axes.

    ``x`` / ``y`` are the reference models' ID / OOD accuracies (fractions), ``draws`` the bootstrap
    (slope, intercept) pairs of the resamples whose x was not constant.
    """

    transform: str
    slope: float
    intercept: float
    slope_se: float
    r: float
    slope_ci: tuple[float, float]
    intercept_ci: tuple[float, float]
    draws: Array
    x: Array
    y: Array
    confidence: float = 0.95

    def predict(self, x: Array) -> Array:
        """The line's OOD accuracy (fraction) at ID accuracy ``x`` (fraction)."""
        t = get_transform(self.transform)
        return t.inverse(self.slope * t.forward(np.asarray(x, dtype=float)) + self.intercept)

    def predict_draws(self, x: Array) -> Array:
        """Predictions (fractions) of every bootstrap line at ``x``: shape (draws, len(x))."""
        t = get_transform(self.transform)
        tx = t.forward(np.atleast_1d(np.asarray(x, dtype=float)))
        return t.inverse(self.draws[:, :1] * tx[None, :] + self.draws[:, 1:])

    def band(self, x: Array) -> tuple[Array, Array]:
        """Pointwise bootstrap band of the line at ``x`` (fractions), at the fit's confidence."""
        return percentile_ci(self.predict_draws(x), self.confidence)

    @property
    def slope_ci_width(self) -> float:
        return float(self.slope_ci[1] - self.slope_ci[0])

    @property
    def stable(self) -> bool:
        """Whether the slope's bootstrap CI is at most ``MAX_SLOPE_CI_WIDTH`` wide."""
        return bool(np.isfinite(self.slope_ci_width) and self.slope_ci_width <= MAX_SLOPE_CI_WIDTH)

    @property
    def id_range(self) -> tuple[float, float]:
        return float(self.x.min()), float(self.x.max())

    @property
    def id_span(self) -> float:
        """The reference models' ID range in transformed units."""
        t = get_transform(self.transform)
        low, high = t.forward(np.array(self.id_range))
        return float(high - low)

    @property
    def residual_sd(self) -> float:
        """SD of the reference models' residuals in transformed units (n - 2 degrees of freedom)."""
        t = get_transform(self.transform)
        residual = t.forward(self.y) - (self.slope * t.forward(self.x) + self.intercept)
        return float(np.sqrt((residual**2).sum() / max(len(residual) - 2, 1)))


def fit_line(
    x: Array,
    y: Array,
    transform: str = "logit",
    *,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> LineFit:
    """Fit the line through reference models with ID accuracies ``x`` and OOD accuracies ``y`` (fractions).

    Needs at least three models whose accuracies the transform maps to finite values (0 and 1 have no logit)
    and more than one distinct ID accuracy. The bootstrap resamples the models with replacement
    (``numpy.random.default_rng(seed)``); resamples with a constant x are dropped.
    """
    t = get_transform(transform)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    tx, ty = t.forward(x), t.forward(y)
    if len(x) < 3 or not (np.isfinite(tx).all() and np.isfinite(ty).all()):
        raise ValueError(f"a line needs >= 3 models with finite {transform} accuracies, got {len(x)}")
    if np.ptp(tx) == 0:
        raise ValueError("the reference models all have the same ID accuracy; no line can be fitted")
    fit = stats.linregress(tx, ty)
    draws = np.empty((0, 2))
    slope_ci = intercept_ci = (np.nan, np.nan)
    if n_boot > 0:
        index = np.random.default_rng(seed).integers(0, len(x), size=(n_boot, len(x)))
        slopes, intercepts = _ols_rows(tx[index], ty[index])
        draws = np.column_stack([slopes, intercepts])[np.isfinite(slopes)]
        low, high = percentile_ci(draws, confidence)
        slope_ci, intercept_ci = (float(low[0]), float(high[0])), (float(low[1]), float(high[1]))
    return LineFit(
        transform, float(fit.slope), float(fit.intercept), float(fit.stderr), float(fit.rvalue),
        slope_ci, intercept_ci, draws, x, y, confidence,
    )  # fmt: skip
