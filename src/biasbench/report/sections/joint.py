"""The joint prediction of the scores from all biases (``analysis.explain``) and the informativeness of each
bias beyond ImageNet top-1 (``analysis.informativeness``), as ranked tables without indexes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from biasbench.analysis.explain import Explained
from biasbench.analysis.sentences import NOUN, fmt, fmt_p
from biasbench.plots.figures import predicted_vs_true
from biasbench.report.sections.base import ReportData, Section
from biasbench.report.tables import Cell, Col, table_html

EXPLAIN_INTRO = (
    "Each score predicted across models from all biases jointly, from ImageNet top-1 alone and from both. "
    "Out-of-sample R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)², ŷ from a fit that never saw the model (LOMO: leave one model "
    "out) or its whole category (LOCO: leave one category out); 0 = no better than the mean, below 0 = worse. "
    "p: permutation test (the score shuffled across models). Regressors: OLS on standardised biases, ridge "
    "(penalty chosen inside each training fold), OLS on ranks."
)
FEATURES = {"biases": "all biases", "top1": "ImageNet top-1", "top1+biases": "top-1 + all biases"}
REGRESSORS = ("ols", "ridge", "rank")


def _r2_cell(row: pd.Series | None) -> Cell | None:
    if row is None or not np.isfinite(row["r2"]):
        return None
    p = f" (p {fmt_p(row['p_perm'])})" if np.isfinite(row["p_perm"]) else ""
    return Cell(
        f"{fmt(row['r2'])}{p}", float(row["r2"]), f"95 % CI {fmt(row['r2_ci_low'])} to {fmt(row['r2_ci_high'])}"
    )


def r2_table(e: Explained, schemes: tuple[str, ...] = ("lomo", "loco")) -> str:
    """Rows score × feature set, columns scheme × regressor: R² (permutation p); hover for the CI."""
    s = e.summary.set_index(["target", "features", "regressor", "scheme"])
    schemes = tuple(x for x in schemes if x in set(e.summary["scheme"]))
    rows = []
    for target in dict.fromkeys(e.summary["target"]):
        for features in dict.fromkeys(e.summary["features"]):
            row = {"score": NOUN.get(target, target), "features": FEATURES.get(features, features)}
            for scheme in schemes:
                for reg in REGRESSORS:
                    key = (target, features, reg, scheme)
                    row[f"{scheme}_{reg}"] = _r2_cell(s.loc[key] if key in s.index else None)
            rows.append(row)
    cols = [Col("score", "score"), Col("features", "predicted from")]
    cols += [Col(f"{x}_{r}", f"{x.upper()} R², {r}") for x in schemes for r in REGRESSORS]
    return table_html(pd.DataFrame(rows), cols)


def explain_sections(data: ReportData) -> list[Section]:
    """R² tables under both validations (and within the models outside adversarial training), ΔR² of the
    biases beyond top-1, importance per bias, and held-out predictions against the truth."""
    out = []
    for prefix, suffix, a in data.zoos():
        e = a.explained
        if e is None or e.summary.empty:
            continue
        section = Section(f"{prefix}explain", "Do the biases explain generalization jointly?" + suffix, EXPLAIN_INTRO)
        section.tables.append(r2_table(e))
        other = a.explained_other
        if other is not None and not other.summary.empty:
            n = int(other.summary["n_models"].max())
            section.tables.append(
                f"<p>Within the {n} models outside adversarial training (no ε-series of siblings "
                "in the fit):</p>" + r2_table(other, ("lomo",))
            )
        delta = e.summary.dropna(subset=["delta_r2"]).copy()
        if len(delta):
            delta["score"] = delta["target"].map(lambda t: NOUN.get(t, t))
            delta["scheme"] = delta["scheme"].str.upper()
            cols = [
                Col("score", "score"),
                Col("regressor", "regressor"),
                Col("scheme", "validation"),
                Col("delta_r2", "ΔR² = R²(top-1 + biases) − R²(top-1)", 2),
                Col("p_delta", "p (bias rows permuted; OLS)", 3),
            ]
            section.tables.append("<p>What the biases add to ImageNet top-1:</p>" + table_html(delta, cols))
        imp = e.importance
        if not imp.empty:
            imp = imp[(imp["features"] == "biases") & (imp["regressor"] == "ridge")].copy()
            imp["score"] = imp["target"].map(lambda t: NOUN.get(t, t))
            imp["bias"] = imp["feature"].map(lambda b: NOUN.get(b, b))
            imp = imp.sort_values(
                ["target", "std_coef"], key=lambda c: c.abs() if c.dtype.kind == "f" else c, ascending=[True, False]
            )
            cols = [
                Col("score", "score"),
                Col("bias", "bias"),
                Col("std_coef", "standardised OLS coefficient", 2),
                Col("coef_ci_low", "CI low", 2),
                Col("coef_ci_high", "CI high", 2),
                Col("drop_one_delta_r2", "R² lost without it (LOMO ridge)", 3),
            ]
            section.tables.append(
                "<p>Importance of each bias (all models; 95 % bootstrap CI):</p>" + table_html(imp, cols)
            )
        fig = predicted_vs_true(e.predictions, e.summary)
        if fig is not None:
            caption = "Held-out ridge predictions (LOMO) against the true score, one colour and marker per category."
            section.figures.append(data.figs.add(fig, f"{prefix}explain_predicted_vs_true", caption))
        out.append(section)
    return out


def informativeness_sections(data: ReportData) -> list[Section]:
    """Leave-one-model-out accuracy of predicting the model category from top-1 plus one bias."""
    out = []
    for prefix, suffix, a in data.zoos():
        info = a.informativeness
        if info is None or info.empty:
            continue
        table = info.assign(
            added=[
                NOUN.get(f.split(" + ")[-1], f.split(" + ")[-1]) if " + " in f else "(top-1 only)"
                for f in info["features"]
            ]
        )
        boots = int(table["n_boot"].max()) if "n_boot" in table else 0
        cols = [
            Col("added", "bias added to ImageNet top-1"),
            Col("loo_accuracy", "LOO category accuracy", 3),
            Col("gain", "gain over top-1", 3),
        ]
        intro = (
            "Informativeness (Djolonga et al., CVPR 2021): how well a model's training category is predicted "
            "(multinomial logistic regression, leave one model out) from ImageNet top-1 plus one bias, and the gain "
            "over top-1 alone"
        )
        if boots:
            share = f"share of {boots:,} bootstrap resamples with gain > 0"
            tip = "a descriptive share, not a p-value"
            cols += [Col("gain_ci_low", "gain CI low", 3), Col("gain_ci_high", "gain CI high", 3),
                     Col("boot_fraction_gain_positive", share, 3, tip=tip)]  # fmt: skip
            intro += f", with a 95 % bootstrap interval over models ({boots:,} resamples)."
        else:
            intro += " (point estimates: no bootstrap ran here; `biasbench reproduce gavrikov2024` has the intervals)."
        cols += [Col("n_models", "models", 0), Col("n_groups", "categories", 0)]
        out.append(
            Section(
                f"{prefix}informativeness",
                "Informativeness beyond ImageNet accuracy" + suffix,
                intro,
                [table_html(table, cols)],
            )
        )
    return out
