"""Caveats that follow from the design of a zoo study, written from its numbers: scores that contain ImageNet
top-1, sibling models that stay in a leave-one-model-out fit, correlations whose sign rests on one category, and
cells where the corrected significance and the unadjusted bootstrap CI disagree."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from biasbench.analysis.pipeline import Analysis
from biasbench.analysis.sentences import NOUN, Finding, cell_text, family, fmt, r2_of, significant
from biasbench.analysis.specs import AT_CATEGORY, IMAGENET_TOP1, SCORES

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def sibling_groups(categories: pd.Series, min_size: int = 2) -> list[tuple[str, list[str]]]:
    """Models of one category whose names differ only in numbers (ε-series, epoch counts, recipe variants):
    (the name with ``*`` where the numbers vary, models), largest first."""
    groups: dict[tuple[str, str], list[str]] = {}
    for model, category in categories.items():
        groups.setdefault((str(category), _NUMBER.sub("#", str(model))), []).append(str(model))
    found = []
    for (_, skeleton), models in groups.items():
        if len(models) < min_size:
            continue
        numbers = [_NUMBER.findall(m) for m in models]
        parts = skeleton.split("#")
        varying = [len({n[i] for n in numbers}) > 1 for i in range(len(parts) - 1)]
        shown = [numbers[0][i] if not v else "*" for i, v in enumerate(varying)]
        found.append(("".join(p + s for p, s in zip(parts, [*shown, ""], strict=True)), models))
    return sorted(found, key=lambda g: (-len(g[1]), g[0]))


def design_caveats(
    analysis: Analysis, regressor: str = "ridge", correction: str = "holm", alpha: float = 0.05
) -> list[Finding]:
    """Caveats that follow from the design: scores that contain ImageNet top-1, sibling models under LOMO
    (and the R² within the models outside adversarial training), correlations whose sign depends on one
    category, and cells where the corrected p and the unadjusted bootstrap CI disagree."""
    out = []
    e = analysis.explained
    if e is not None and not e.summary.empty:
        for spec in SCORES:
            r2 = r2_of(e.summary, spec.name, "top1", "ols", "lomo")
            if IMAGENET_TOP1 in spec.members and np.isfinite(r2):
                out.append(
                    Finding(
                        f"{spec.title} ← top-1",
                        (
                            f"R² = {fmt(r2)} (LOMO) holds largely by construction: ImageNet top-1 is one of the "
                            f"{len(spec.members)} accuracies {spec.title} averages."
                        ),
                    )
                )
        groups = sibling_groups(analysis.categories.reindex(e.predictions["model"].unique()).dropna())
        if groups:
            named = ", ".join(f"{pattern} ({len(models)} models)" for pattern, models in groups[:3])
            text = (
                f"under LOMO a held-out model's siblings stay in the fit — models of its category that differ "
                f"only in a number, such as {named} — so LOMO partly measures interpolation within a family."
            )
            other = analysis.explained_other
            if other is not None and not other.summary.empty:
                n_other = int(other.summary["n_models"].max())
                per = ", ".join(
                    f"{NOUN.get(t, t)} {fmt(r2_of(other.summary, t, 'biases', regressor, 'lomo'))}"
                    for t in dict.fromkeys(other.summary["target"])
                )
                text += (
                    f" Within the {n_other} models outside {AT_CATEGORY.replace('_', ' ')} (no ε-series) the "
                    f"biases' LOMO R² ({regressor}) is {per}."
                )
            out.append(Finding("Siblings", text))
    out += _stability_caveat(analysis) + _ci_caveat(analysis, correction, alpha)
    return out


def _stability_caveat(analysis: Analysis) -> list[Finding]:
    st = analysis.stability
    if st.empty:
        return []
    part = st[(st["method"] == "spearman") & (st["control"] == "none")]
    flips = part[~part["sign_stable"]]
    if flips.empty:
        return [
            Finding(
                "One category out", f"all {len(part)} correlations keep their sign when any one category is left out."
            )
        ]
    common = flips["most_influential_category"].value_counts()
    return [
        Finding(
            "One category out",
            (
                f"{len(flips)} of {len(part)} correlations change sign when one category is left out (most often "
                f"{common.index[0].replace('_', ' ')}, {int(common.iloc[0])} times); see the stability table."
            ),
        )
    ]


def _ci_caveat(analysis: Analysis, correction: str, alpha: float) -> list[Finding]:
    cells = family(analysis)
    if cells.empty:
        return []
    cells = cells.dropna(subset=["rho", "ci_low", "ci_high"])
    sig = significant(cells, correction, alpha)
    excludes = (cells["ci_low"] > 0) | (cells["ci_high"] < 0)
    out = []
    lost = cells[excludes & ~sig]
    if len(lost):
        out.append(
            Finding(
                "CIs and p",
                (
                    f"{len(lost)} cell(s) have a 95 % CI that excludes 0 but are not significant after correction: the "
                    "CIs are per cell and unadjusted, the significance accounts for all tests."
                ),
            )
        )
    odd = cells[~excludes & sig]
    if len(odd):
        out.append(
            Finding(
                "CIs and p",
                (
                    f"{len(odd)} significant cell(s) have a bootstrap CI that contains 0 "
                    f"({cell_text(odd.iloc[0])}): the p-value (scipy's test) and the percentile bootstrap are "
                    "different procedures and can disagree near the boundary."
                ),
            )
        )
    return out
