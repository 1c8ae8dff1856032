"""Correlation engine: Spearman / Kendall / Pearson across models, with p-values, seeded bootstrap CIs,
partial correlations controlling for a confounder (ImageNet accuracy), category subsets, leave-one-
category-out stability and Holm / Benjamini-Hochberg correction. Output is one tidy DataFrame.

Estimators work row-wise on 2-D arrays so that one call evaluates all bootstrap resamples at once.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import product

import numpy as np
import pandas as pd
from scipy import stats

from biasbench.analysis.multiple import ADJUSTMENTS
from biasbench.analysis.specs import AT_CATEGORY
from biasbench.core.errors import UnknownNameError

Array = np.ndarray


def _center(a: Array) -> Array:
    return a - a.mean(axis=-1, keepdims=True)


def _pearson_rows(x: Array, y: Array) -> Array:
    xc, yc = _center(x), _center(y)
    den = np.sqrt((xc * xc).sum(-1) * (yc * yc).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc).sum(-1) / den
    return np.where(den > 1e-12, np.clip(r, -1.0, 1.0), np.nan)


def _residualise(a: Array, z: Array) -> Array:
    """Residual of ``a`` after least-squares regression on ``z`` (with intercept), row-wise."""
    ac, zc = _center(a), _center(z)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = (ac * zc).sum(-1, keepdims=True) / (zc * zc).sum(-1, keepdims=True)
    return ac - np.nan_to_num(beta) * zc


def _partial_pearson(x: Array, y: Array, z: Array) -> Array:
    return _pearson_rows(_residualise(x, z), _residualise(y, z))


def _rank(a: Array) -> Array:
    return stats.rankdata(a, axis=-1)  # average ranks for ties, as scipy.stats.spearmanr


def _pair_signs(a: Array) -> Array:
    """sign(a_i - a_j) for all pairs i < j, row-wise: the only thing Kendall's tau looks at."""
    i, j = np.triu_indices(a.shape[-1], k=1)
    return np.sign(a[..., i] - a[..., j]).astype(np.float32)


def _kendall_from_signs(sx: Array, sy: Array) -> Array:
    """Kendall tau-b (tie-corrected, as scipy.stats.kendalltau) from pair signs, row-wise."""
    dot = lambda a, b: np.einsum("...i,...i->...", a, b, dtype=np.float64)  # noqa: E731
    den = np.sqrt(dot(sx, sx) * dot(sy, sy))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, dot(sx, sy) / den, np.nan)


def _kendall_partial(sx: Array, sy: Array, sz: Array) -> Array:
    # Kendall's partial tau (Kendall 1942); it has no exact null distribution, so its p-value is NaN.
    txy, txz, tyz = _kendall_from_signs(sx, sy), _kendall_from_signs(sx, sz), _kendall_from_signs(sy, sz)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (txy - txz * tyz) / np.sqrt((1 - txz**2) * (1 - tyz**2))


def _t_test_p(r: float, n: int, n_controls: int) -> float:
    """Two-sided p of a (partial) correlation from Student's t with n - 2 - k degrees of freedom."""
    df = n - 2 - n_controls
    if df <= 0 or not np.isfinite(r):
        return np.nan
    if abs(r) >= 1:
        return 0.0
    t = r * np.sqrt(df / (1 - r * r))
    return float(2 * stats.t.sf(abs(t), df))


@dataclass(frozen=True)
class Method:
    """A correlation coefficient as transform + combine, so transformed resamples can be reused.

    ``transform`` maps a (rows x models) array to what the coefficient compares (ranks, raw values, pair
    signs); ``combine`` / ``partial`` turn transformed arrays into coefficients row-wise.
    """

    name: str
    transform: Callable[[Array], Array]
    combine: Callable[[Array, Array], Array]
    partial: Callable[[Array, Array, Array], Array]
    p_value: Callable[[Array, Array], float]
    partial_p: Callable[[float, int], float]


def _scipy_p(test: Callable) -> Callable[[Array, Array], float]:
    def p_value(x: Array, y: Array) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant input: scipy warns and returns NaN, which we keep
            return float(test(x, y).pvalue)

    return p_value


def _identity(a: Array) -> Array:
    return a


def _partial_t_p(r: float, n: int) -> float:
    return _t_test_p(r, n, 1)


METHODS: dict[str, Method] = {
    # Spearman = Pearson of ranks; its partial is rank-based: Pearson of rank residuals on the ranks of z.
    "spearman": Method("spearman", _rank, _pearson_rows, _partial_pearson, _scipy_p(stats.spearmanr), _partial_t_p),
    "kendall": Method(
        "kendall",
        _pair_signs,
        _kendall_from_signs,
        _kendall_partial,
        _scipy_p(stats.kendalltau),
        lambda r, n: np.nan,
    ),  # fmt: skip
    "pearson": Method("pearson", _identity, _pearson_rows, _partial_pearson, _scipy_p(stats.pearsonr), _partial_t_p),
}


def get_method(name: str) -> Method:
    """The registered correlation method ``name`` (spearman, kendall, pearson)."""
    try:
        return METHODS[name]
    except KeyError:
        raise UnknownNameError("correlation method", name, METHODS) from None


@dataclass(frozen=True)
class Correlation:
    """One coefficient with its two-sided p-value and percentile bootstrap CI over models."""

    rho: float
    p: float
    ci_low: float
    ci_high: float
    n: int


class _Resampler:
    """Seeded bootstrap resamples of model rows, with transformed columns cached per (column, rows).

    Every cell with the same n uses the same resample indices (paired bootstrap, independent of cell
    order); caching means each column is ranked / sign-expanded once per subset, not once per cell.
    """

    def __init__(self, method: Method, n_boot: int, seed: int):
        self.method, self.n_boot, self.seed = method, n_boot, seed
        self._indices: dict[int, Array] = {}
        self._cache: dict[tuple, Array] = {}

    def indices(self, n: int) -> Array:
        if n not in self._indices:
            self._indices[n] = np.random.default_rng(self.seed).integers(0, n, size=(self.n_boot, n))
        return self._indices[n]

    def transformed(self, key: tuple, values: Array) -> Array:
        if key not in self._cache:
            self._cache[key] = self.method.transform(values[self.indices(len(values))])
        return self._cache[key]


def _correlate(
    method: Method, columns: list[tuple[tuple, Array]], resampler: _Resampler | None, confidence: float
) -> Correlation:
    """``columns`` = [(cache key, complete-case values)] for x, y and optionally the control z."""
    arrays = [values for _, values in columns]
    n = len(arrays[0])
    point = [method.transform(a[None]) for a in arrays]
    if len(arrays) == 2:
        rho = float(method.combine(*point)[0])
        p = method.p_value(*arrays) if np.isfinite(rho) else np.nan
    else:
        rho = float(method.partial(*point)[0])
        p = method.partial_p(rho, n)
    low = high = np.nan
    if resampler is not None and resampler.n_boot > 0:
        boot = [resampler.transformed(key, values) for key, values in columns]
        draws = method.combine(*boot) if len(boot) == 2 else method.partial(*boot)
        if not np.isnan(draws).all():
            tail = (1 - confidence) / 2 * 100
            low, high = (float(v) for v in np.nanpercentile(draws, [tail, 100 - tail]))
    return Correlation(rho, p, low, high, n)


def _complete(columns: list[Array]) -> tuple[Array, list[Array]]:
    data = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    keep = ~np.isnan(data).any(axis=1)
    return keep, [data[keep, i] for i in range(data.shape[1])]


def correlate(
    x: Sequence[float],
    y: Sequence[float],
    method: str = "spearman",
    control: Sequence[float] | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    min_n: int = 3,
) -> Correlation:
    """Correlation of ``x`` and ``y`` across models, optionally partial on ``control``.

    Rows with a missing value are dropped. Spearman's partial correlation is rank-based (Pearson of the
    residuals of the ranks); its p-value uses Student's t with n - 3 degrees of freedom; Kendall's partial
    tau has no p-value (NaN). Plain p-values are scipy's. The CI is a seeded percentile bootstrap over
    models (rows resampled with replacement).
    """
    spec = get_method(method)
    _, arrays = _complete([x, y] if control is None else [x, y, control])
    if len(arrays[0]) < min_n:
        return Correlation(np.nan, np.nan, np.nan, np.nan, len(arrays[0]))
    columns = [((i,), a) for i, a in enumerate(arrays)]
    return _correlate(spec, columns, _Resampler(spec, n_boot, seed), confidence)


# Subsets of models by category (the study's Total / AT / Other split, METHODS §6.2).
SUBSETS: dict[str, Callable[[pd.Series], pd.Series]] = {
    "total": lambda cat: pd.Series(True, index=cat.index),
    "at": lambda cat: cat == AT_CATEGORY,
    "other": lambda cat: cat != AT_CATEGORY,
}
LOCO_PREFIX = "without:"


def subset_masks(
    categories: pd.Series, subsets: Sequence[str] = ("total", "at", "other"), loco: bool = False
) -> dict[str, pd.Series]:
    """Boolean model masks per subset name; with ``loco``, one ``without:<category>`` per category."""
    masks = {name: SUBSETS[name](categories) for name in subsets}
    if loco:
        for category in sorted(categories.dropna().unique()):
            masks[f"{LOCO_PREFIX}{category}"] = categories != category
    return masks


def _cell(named: list[tuple[str, str, Array]], resampler: _Resampler, confidence: float, min_n: int) -> Correlation:
    """One table cell from (side, column name, values); the cache key names the column and its rows."""
    keep, arrays = _complete([values for _, _, values in named])
    if len(arrays[0]) < min_n:
        return Correlation(np.nan, np.nan, np.nan, np.nan, len(arrays[0]))
    rows = tuple(np.flatnonzero(keep))
    columns = [((side, name, rows), a) for (side, name, _), a in zip(named, arrays, strict=True)]
    return _correlate(resampler.method, columns, resampler, confidence)


TABLE_COLUMNS = (
    "bias", "benchmark", "subset", "method", "control", "rho", "p", "ci_low", "ci_high", "n",
    "p_holm", "p_bh", "rho_masked",
)  # fmt: skip


def correlation_table(
    left: pd.DataFrame,
    right: pd.DataFrame,
    *,
    categories: pd.Series | None = None,
    subsets: Sequence[str] = ("total", "at", "other"),
    loco: bool = False,
    methods: Sequence[str] = ("spearman",),
    control: pd.Series | None = None,
    control_name: str = "imagenet_top1",
    n_boot: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
    alpha: float = 0.05,
    min_n: int = 3,
) -> pd.DataFrame:
    """Every column of ``left`` (biases) against every column of ``right`` (benchmarks), per subset.

    ``left``/``right`` are model-indexed tables. Without ``categories`` only the ``total`` subset exists.
    With ``control`` every cell is computed twice: plain (``control == "none"``) and partial on it.
    ``p_holm`` / ``p_bh`` are adjusted within each family = (subset, method, control) over all cells.
    ``rho_masked`` applies the study's display rule (rho shown as 0 when p >= ``alpha``); ``rho`` is kept.
    """
    models = left.index.intersection(right.index)
    if categories is None:
        masks = {"total": pd.Series(True, index=models)}
    else:
        masks = subset_masks(categories.reindex(models), subsets, loco)
    controls: list[tuple[str, pd.Series | None]] = [("none", None)]
    if control is not None:
        controls.append((control_name, control.reindex(models)))
    rows = []
    for subset, mask in masks.items():
        chosen = mask.reindex(models, fill_value=False).to_numpy(bool)
        lvals = left.loc[models].to_numpy(float)[chosen]
        rvals = right.loc[models].to_numpy(float)[chosen]
        for method in methods:
            resampler = _Resampler(get_method(method), n_boot, seed)
            for (cname, cvalues), (i, bias), (j, bench) in product(
                controls, enumerate(left.columns), enumerate(right.columns)
            ):
                named = [("L", bias, lvals[:, i]), ("R", bench, rvals[:, j])]
                if cvalues is not None:
                    named.append(("C", cname, cvalues.to_numpy(float)[chosen]))
                c = _cell(named, resampler, confidence, min_n)
                rows.append((bias, bench, subset, method, cname, c.rho, c.p, c.ci_low, c.ci_high, c.n))
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS[:10]))
    return adjust(table, alpha=alpha)


def adjust(table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Add Holm / BH adjusted p-values per (subset, method, control) family and the masked rho."""
    table = table.copy()
    family = ["subset", "method", "control"]
    for name, fn in ADJUSTMENTS.items():
        table[f"p_{name}"] = table.groupby(family, sort=False)["p"].transform(lambda p, fn=fn: fn(p.to_numpy()))
    table["rho_masked"] = mask_insignificant(table, alpha)
    return table


def mask_insignificant(table: pd.DataFrame, alpha: float = 0.05, p_column: str = "p") -> pd.Series:
    """The study's display rule: rho where p < ``alpha``, else 0; NaN where rho or p is undefined."""
    p = table[p_column]
    return table["rho"].where(p < alpha, 0.0).where(p.notna())


def family_cells(
    table: pd.DataFrame, subset: str = "total", method: str = "spearman", control: str = "none"
) -> pd.DataFrame:
    """The cells of one (subset, method, control) family of a tidy table: the unit of the correction."""
    return table[(table["subset"] == subset) & (table["method"] == method) & (table["control"] == control)]


def wide(
    table: pd.DataFrame, subset: str = "total", method: str = "spearman", control: str = "none",
    value: str = "rho_masked",
) -> pd.DataFrame:  # fmt: skip
    """One subset/method/control of a tidy table as a bias x benchmark matrix (rows and columns in order)."""
    part = family_cells(table, subset, method, control)
    matrix = part.pivot(index="bias", columns="benchmark", values=value)
    return matrix.reindex(index=list(dict.fromkeys(part["bias"])), columns=list(dict.fromkeys(part["benchmark"])))


def loco_stability(table: pd.DataFrame) -> pd.DataFrame:
    """Per cell: total rho, the range of rho over leave-one-category-out subsets, whether the sign holds,
    and the category whose removal moves rho most. Needs a table built with ``loco=True``."""
    keys = ["bias", "benchmark", "method", "control"]
    total = table[table["subset"] == "total"].set_index(keys)["rho"]
    loco = table[table["subset"].str.startswith(LOCO_PREFIX)].copy()
    loco["rho_total"] = loco.set_index(keys).index.map(total)
    loco["shift"] = (loco["rho"] - loco["rho_total"]).abs()
    rows = []
    for key, part in loco.groupby(keys, sort=False):
        rho_total = part["rho_total"].iloc[0]
        signs = np.sign(part["rho"].dropna())
        worst = part.loc[part["shift"].idxmax()] if part["shift"].notna().any() else None
        rows.append(
            (*key, rho_total, part["rho"].min(), part["rho"].max(),
             bool((signs == np.sign(rho_total)).all()) if np.isfinite(rho_total) else False,
             "" if worst is None else worst["subset"][len(LOCO_PREFIX):])
        )  # fmt: skip
    return pd.DataFrame(
        rows, columns=[*keys, "rho_total", "rho_min", "rho_max", "sign_stable", "most_influential_category"]
    )


def bias_bias_matrix(
    biases: pd.DataFrame, method: str = "spearman", *, n_boot: int = 0, seed: int = 0, alpha: float = 0.05
) -> pd.DataFrame:
    """Tidy table of every bias against every bias on all models (columns as ``correlation_table``)."""
    return correlation_table(biases, biases, methods=(method,), n_boot=n_boot, seed=seed, alpha=alpha)
