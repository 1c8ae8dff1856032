"""Do the biases explain generalization jointly? Out-of-sample prediction of each generalization score
from all measured biases together (the open question of Gavrikov & Keuper, CVPR 2024).

Definitions (tested in tests/analysis/test_explain.py):

- Out-of-sample R² = 1 - Σ_i (y_i - ŷ_i)² / Σ_i (y_i - ȳ)², where ŷ_i is model i's prediction by a fit
  that never saw model i (leave-one-model-out, LOMO) or its category (leave-one-category-out, LOCO), and ȳ
  is the mean over all n models (the full-sample mean). R² = 0 means "no better than the mean", and it is
  negative when the held-out predictions are worse than that.
- Permutation p = (1 + #{b: R²_b >= R²}) / (1 + B), where R²_b is the same cross-validated R² after
  shuffling the target across models (seeded; features and categories stay in place).
- 95% CI of R² (and of Spearman ρ of predicted vs true): percentile bootstrap over models of the held-out
  predictions (the cross-validation is not re-run per resample).
- Feature sets: ``biases`` (every bias measured for enough models), ``top1`` (ImageNet top-1 alone) and
  ``top1+biases``; ``delta_r2`` = R²(top1+biases) - R²(top1), what the biases add to accuracy. For OLS,
  ``p_delta`` tests it by permuting the rows of the bias block across models (top-1 and the score stay
  paired): p = (1 + #{R²(top1 + permuted biases) >= R²(top1+biases)}) / (1 + B).
- Importance: standardised OLS coefficients on the full sample with bootstrap CIs, and drop-one ΔR² =
  R²(all features) - R²(all but this one) under LOMO, per regressor.
- Randomness: each target's permutations, each (target, features, regressor, scheme)'s bootstrap, each
  (target, features)'s coefficient bootstrap and each (target, scheme)'s ``p_delta`` permutations are a seeded
  stream of their own, so no number depends on what else is computed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from biasbench.analysis.regressors import REGRESSORS, ols_cv_closed_form
from biasbench.analysis.specs import BIAS_NAMES, SCORE_NAMES
from biasbench.core.rng import named_rng

TOP1 = "imagenet_top1"
SUMMARY_COLUMNS = (
    "target", "features", "regressor", "scheme", "r2", "r2_ci_low", "r2_ci_high", "spearman",
    "spearman_ci_low", "spearman_ci_high", "p_perm", "delta_r2", "p_delta", "n_models", "n_folds", "n_perm",
)  # fmt: skip


@dataclass
class Explained:
    """Joint-prediction results: one summary row per (target, features, regressor, scheme), the held-out
    predictions per model, per-feature importance, and notes on what was skipped."""

    summary: pd.DataFrame
    predictions: pd.DataFrame
    importance: pd.DataFrame
    notes: list[str] = field(default_factory=list)

    def save(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Write explain.csv (summary), explain_predictions.csv and explain_importance.csv into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tables = {
            "explain": self.summary,
            "explain_predictions": self.predictions,
            "explain_importance": self.importance,
        }
        for stem, frame in tables.items():
            frame.to_csv(folder / f"{stem}.csv", index=False)
        return [folder / f"{stem}.csv" for stem in tables]


def oos_r2(y: np.ndarray, y_hat: np.ndarray) -> np.ndarray:
    """Out-of-sample R² per column: 1 - Σ(y - ŷ)² / Σ(y - ȳ)² with ȳ the mean of that column of ``y``."""
    y, y_hat = np.asarray(y, float), np.asarray(y_hat, float)
    total = ((y - y.mean(0)) ** 2).sum(0)
    return 1.0 - ((y - y_hat) ** 2).sum(0) / total


def permutation_p(observed: float, null: np.ndarray) -> float:
    """(1 + #{null >= observed}) / (1 + len(null)); never 0, so it stays a valid p-value."""
    return float((1 + np.sum(np.asarray(null) >= observed)) / (1 + len(null)))


def lomo_folds(n: int) -> list[np.ndarray]:
    """One fold per model: test index i."""
    return [np.array([i]) for i in range(n)]


def loco_folds(categories: Sequence[str]) -> list[np.ndarray]:
    """One fold per category: the indices of its models."""
    cats = np.asarray(categories)
    return [np.flatnonzero(cats == c) for c in pd.unique(cats)]


def _row_spearman(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman rho of each row pair (Pearson of average ranks); NaN for a constant row."""
    ra, rb = stats.rankdata(a, axis=1), stats.rankdata(b, axis=1)
    ra, rb = ra - ra.mean(1, keepdims=True), rb - rb.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ra * rb).sum(1) / np.sqrt((ra**2).sum(1) * (rb**2).sum(1))


def _bootstrap(y: np.ndarray, y_hat: np.ndarray, n_boot: int, rng: np.random.Generator) -> tuple[float, ...]:
    if n_boot <= 0:
        return (np.nan,) * 4
    idx = rng.integers(0, len(y), (n_boot, len(y)))
    r2 = oos_r2(y[idx].T, y_hat[idx].T)
    rho = _row_spearman(y[idx], y_hat[idx])
    (r_lo, r_hi), (s_lo, s_hi) = np.nanpercentile(r2, [2.5, 97.5]), np.nanpercentile(rho, [2.5, 97.5])
    return r_lo, r_hi, s_lo, s_hi


def _feature_sets(biases: list[str], has_top1: bool) -> dict[str, list[str]]:
    if not biases:
        return {}
    return {"biases": biases, "top1": [TOP1], "top1+biases": [TOP1, *biases]} if has_top1 else {"biases": biases}


def _coefficients(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    xs = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1.0)
    ys = (y - y.mean()) / (y.std() or 1.0)
    return np.linalg.lstsq(np.hstack([np.ones((len(xs), 1)), xs]), ys, rcond=None)[0][1:]


# Every draw of ``explain`` comes from a stream of its own, named (STREAM, target, ..., purpose) and seeded by
# ``seed`` (``core.rng.named_rng``): a number never depends on which other targets, feature sets or regressors
# are computed, nor in which order.
STREAM = "explain"


@dataclass(frozen=True)
class TargetData:
    """One target's models (those with the target, top-1 and every used bias): their values, categories,
    validation schemes, and the observed target followed by ``n_perm`` permutations of it as columns (one set
    of permutations per target, shared by its feature sets and regressors, so they are compared on the same
    shuffles)."""

    target: str
    frame: pd.DataFrame
    categories: pd.Series | None
    schemes: dict[str, list[np.ndarray]]
    columns: np.ndarray

    @property
    def y(self) -> np.ndarray:
        return self.columns[:, 0]

    @classmethod
    def of(cls, target: str, frame: pd.DataFrame, categories: pd.Series | None, n_perm: int, seed: int) -> TargetData:
        cats = categories.reindex(frame.index).fillna("uncategorised") if categories is not None else None
        schemes = {"lomo": lomo_folds(len(frame))}
        if cats is not None and cats.nunique() >= 3:
            schemes["loco"] = loco_folds(cats.to_numpy())
        y = frame[target].to_numpy(float)
        rng = named_rng(seed, STREAM, target, "permutation")
        return cls(target, frame, cats, schemes, np.column_stack([y] + [rng.permutation(y) for _ in range(n_perm)]))


def _importance(data: TargetData, name: str, cols: list[str], regressors, n_boot: int, seed: int) -> list[dict]:
    x, y = data.frame[cols].to_numpy(float), data.y
    coef = _coefficients(x, y)
    rng = named_rng(seed, STREAM, data.target, name, "importance")
    boots = np.array([_coefficients(x[i], y[i]) for i in rng.integers(0, len(y), (n_boot, len(y)))])
    folds = lomo_folds(len(y))
    rows = []
    for reg in regressors:
        full = oos_r2(y, REGRESSORS[reg](x, y[:, None], folds)[:, 0])
        for j, col in enumerate(cols):
            rest = [k for k in range(len(cols)) if k != j]
            dropped = oos_r2(y, REGRESSORS[reg](x[:, rest], y[:, None], folds)[:, 0]) if rest else 0.0
            lo, hi = np.percentile(boots[:, j], [2.5, 97.5]) if n_boot else (np.nan, np.nan)
            rows.append({"target": data.target, "features": name, "feature": col, "regressor": reg,
                         "std_coef": coef[j], "coef_ci_low": lo, "coef_ci_high": hi,
                         "drop_one_delta_r2": float(full - dropped)})  # fmt: skip
    return rows


def delta_p(
    top1: np.ndarray, biases: np.ndarray, y: np.ndarray, folds: list[np.ndarray], n_perm: int, rng: np.random.Generator
) -> float:
    """Permutation p of the OLS R² of top-1 + biases against biases shuffled across models (see module doc)."""
    observed = oos_r2(y, ols_cv_closed_form(np.column_stack([top1, biases]), y, folds))
    null = []
    for _ in range(n_perm):
        x = np.column_stack([top1, biases[rng.permutation(len(y))]])
        null.append(oos_r2(y, ols_cv_closed_form(x, y, folds)))
    return permutation_p(float(observed), np.array(null))


def _prediction(data: TargetData, name: str, cols: list[str], reg: str, scheme: str, n_boot: int, seed: int):
    """The summary row and the held-out predictions of one (feature set, regressor, scheme)."""
    y, folds = data.y, data.schemes[scheme]
    y_hat = REGRESSORS[reg](data.frame[cols].to_numpy(float), data.columns, folds)
    r2 = oos_r2(data.columns, y_hat)
    ci = _bootstrap(y, y_hat[:, 0], n_boot, named_rng(seed, STREAM, data.target, name, reg, scheme, "bootstrap"))
    n_perm = data.columns.shape[1] - 1
    row = {
        "target": data.target, "features": name, "regressor": reg, "scheme": scheme, "r2": r2[0],
        "r2_ci_low": ci[0], "r2_ci_high": ci[1], "spearman": stats.spearmanr(y, y_hat[:, 0])[0],
        "spearman_ci_low": ci[2], "spearman_ci_high": ci[3],
        "p_perm": permutation_p(r2[0], r2[1:]) if n_perm else np.nan,
        "n_models": len(y), "n_folds": len(folds), "n_perm": n_perm,
    }  # fmt: skip
    predictions = pd.DataFrame({
        "model": data.frame.index, "category": data.categories.to_numpy() if data.categories is not None else
        "uncategorised", "target": data.target, "features": name, "regressor": reg, "scheme": scheme, "y": y,
        "y_hat": y_hat[:, 0],
    })  # fmt: skip
    return row, predictions


def _add_deltas(rows: list[dict], data: TargetData, used: list[str], seed: int) -> None:
    """``delta_r2`` of every top1+biases row (against top-1 alone) and, for OLS, its permutation p."""
    r2 = {(r["features"], r["regressor"], r["scheme"]): r["r2"] for r in rows}
    n_perm = data.columns.shape[1] - 1
    for row in rows:
        if row["features"] != "top1+biases":
            continue
        reg, scheme = row["regressor"], row["scheme"]
        row["delta_r2"] = row["r2"] - r2["top1", reg, scheme]
        if reg == "ols" and n_perm:
            top1, rest = data.frame[TOP1].to_numpy(float), data.frame[used].to_numpy(float)
            rng = named_rng(seed, STREAM, data.target, reg, scheme, "delta")
            row["p_delta"] = delta_p(top1, rest, data.y, data.schemes[scheme], n_perm, rng)


def explain(
    scores: pd.DataFrame,
    biases: pd.DataFrame,
    categories: pd.Series | None = None,
    *,
    targets: Sequence[str] | None = None,
    regressors: Sequence[str] = tuple(REGRESSORS),
    n_perm: int = 1000,
    n_boot: int = 1000,
    seed: int = 0,
    min_models: int = 8,
) -> Explained:
    """Predict each target column of ``scores`` (default: the four generalization scores) across models
    from the biases jointly, from ImageNet top-1 alone and from both; LOMO and (with ``categories``) LOCO.

    Models lacking the target, top-1 or any used bias are dropped per target, so all feature sets of one
    target are compared on the same models. Deterministic for a given ``seed``, and each number the same
    whichever other targets and regressors are asked for (every draw has its own stream, see ``STREAM``).
    """
    unknown = set(regressors) - set(REGRESSORS)
    if unknown:
        raise ValueError(f"unknown regressor(s) {sorted(unknown)}; choose from {sorted(REGRESSORS)}")
    targets = list(targets or [t for t in SCORE_NAMES if t in scores.columns])
    missing = [t for t in targets if t not in scores.columns]
    if missing:
        raise ValueError(f"targets {missing} are not columns of the scores table {list(scores.columns)}")
    used = [b for b in BIAS_NAMES if b in biases.columns and biases[b].notna().sum() >= min_models]
    has_top1 = TOP1 in scores.columns and scores[TOP1].notna().sum() >= min_models
    sets = _feature_sets(used, has_top1)
    notes = ["ImageNet top-1 is missing: only the 'biases' feature set is predicted."] if used and not has_top1 else []
    if not sets:
        notes.append(f"explain: no bias is measured for >= {min_models} models; nothing to predict from.")
        targets = []
    summary, predictions, importance = [], [], []
    for target in targets:
        frame = scores[[target, *([TOP1] if has_top1 else [])]].join(biases[used]).dropna()
        if len(frame) < min_models:
            notes.append(f"explain: {target} has {len(frame)} complete model(s) (< {min_models}); skipped.")
            continue
        data = TargetData.of(target, frame, categories, n_perm, seed)
        rows = []
        for name, cols in sets.items():
            for reg, scheme in product(regressors, data.schemes):
                row, predicted = _prediction(data, name, cols, reg, scheme, n_boot, seed)
                rows.append(row)
                predictions.append(predicted)
            if name != "top1":
                importance += _importance(data, name, cols, regressors, n_boot, seed)
        _add_deltas(rows, data, used, seed)
        summary += rows
    summary_frame = pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS))
    predictions_frame = pd.concat(predictions, ignore_index=True) if predictions else pd.DataFrame()
    return Explained(summary_frame, predictions_frame, pd.DataFrame(importance), notes)


def r2_table(summary: pd.DataFrame, scheme: str = "lomo") -> pd.DataFrame:
    """Wide view: rows target x features, columns per regressor "R² (permutation p)" for one validation scheme."""
    part = summary[summary["scheme"] == scheme]
    cells = part.assign(cell=[f"{r:.2f} ({p:.3f})" for r, p in zip(part["r2"], part["p_perm"], strict=True)])
    return cells.pivot(index=["target", "features"], columns="regressor", values="cell")
