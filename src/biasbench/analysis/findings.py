"""The report's summary, written from the statistics: which biases go with which score after the multiple-
testing correction, what the joint prediction says under both validations, the caveats that follow from the
design, each model's standout values, and what a study of this size cannot show. Nothing here is hard-coded:
every sentence is built from the numbers of an ``Analysis`` (tests/analysis/test_findings.py checks them on
zoos whose answer is known).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from biasbench.analysis.caveats import design_caveats
from biasbench.analysis.context import Placement
from biasbench.analysis.explain import TOP1
from biasbench.analysis.pipeline import Analysis
from biasbench.analysis.sentences import (
    CORRECTIONS,
    NOUN,
    UNIT,
    Finding,
    cell_text,
    family,
    fmt,
    join_words,
    p_is,
    r2_of,
    significant,
)
from biasbench.analysis.specs import BIASES, SCORES

MIN_CORRELATION_MODELS = 3
FEW_MODELS = 10  # below this, only near-perfect rank agreement reaches p < 0.05


@dataclass
class Findings:
    """The summary in its parts, each a list of findings in reading order."""

    design: list[Finding] = field(default_factory=list)  # what this study can and cannot show
    correlations: list[Finding] = field(default_factory=list)  # one per generalization score
    joint: list[Finding] = field(default_factory=list)  # the joint prediction and its reading
    caveats: list[Finding] = field(default_factory=list)  # consequences of the design
    models: list[Finding] = field(default_factory=list)  # per model, its standout values
    correction: str = ""  # the multiple-testing correction in words

    def all(self) -> list[Finding]:
        return [*self.design, *self.correlations, *self.joint, *self.caveats, *self.models]


def correlation_findings(
    analysis: Analysis, correction: str = "holm", alpha: float = 0.05
) -> tuple[list[Finding], str]:
    """Per score, the biases whose Spearman ρ across all models is significant after ``correction`` (sign,
    ρ and 95 % bootstrap CI), or the strongest one with its adjusted p; and the correction in words."""
    cells = family(analysis)
    if cells.empty:
        return [], ""
    column, words = CORRECTIONS[correction]
    tested = int(cells["p"].notna().sum())
    n = int(cells["n"].max())
    text = (
        f"Significance: Spearman p-values {words} over the {tested} bias × score tests on all {n} models "
        f"(α = {alpha:g}); brackets are 95 % percentile-bootstrap CIs over models."
    )
    out = []
    for score in dict.fromkeys(cells["benchmark"]):
        part = cells[cells["benchmark"] == score].dropna(subset=["rho"])
        if part.empty:
            continue
        hits = part[significant(part, correction, alpha)].sort_values("rho", key=abs, ascending=False)
        if len(hits):
            listed = "; ".join(cell_text(r) for _, r in hits.iterrows())
            out.append(Finding(NOUN.get(score, score), f"{len(hits)} of {len(part)} biases correlate: {listed}."))
        else:
            top = part.loc[part["rho"].abs().idxmax()]
            out.append(
                Finding(
                    NOUN.get(score, score),
                    (
                        f"no bias correlates after correction; the strongest is {cell_text(top)}, "
                        f"{p_is(top['p'])}, {p_is(top[column], 'adjusted p')}."
                    ),
                )
            )
    return out, text


def joint_findings(analysis: Analysis, regressor: str = "ridge") -> list[Finding]:
    """The joint prediction from all biases under LOMO and LOCO, what each validation asks, and what ImageNet
    top-1 plus the biases add over top-1 alone (OLS, with its permutation p)."""
    e = analysis.explained
    if e is None or e.summary.empty:
        return []
    s = e.summary
    targets = list(dict.fromkeys(s["target"]))
    schemes = [x for x in ("lomo", "loco") if x in set(s["scheme"])]
    per = ", ".join(
        f"{NOUN.get(t, t)} " + " / ".join(fmt(r2_of(s, t, "biases", regressor, x)) for x in schemes) for t in targets
    )
    names = " / ".join({"lomo": "leave-one-model-out", "loco": "leave-one-category-out"}[x] for x in schemes)
    out = [
        Finding(
            "Jointly",
            f"all biases together predict the held-out scores with out-of-sample R² ({regressor}, {names}): {per}.",
        )
    ]
    reading = (
        "LOMO asks how well the biases place a model among models like it that stay in the fit; LOCO asks "
        "whether they carry over to a training category the fit never saw."
    )
    if "loco" in schemes:
        below = [NOUN.get(t, t) for t in targets if r2_of(s, t, "biases", regressor, "loco") < 0]
        if below:
            reading += (
                f" Under LOCO R² falls below 0 for {join_words(below)}: there the unseen category is predicted "
                "worse than by the mean of all models, so the relation holds within training families, "
                "not across them."
            )
    out.append(Finding("Reading", reading))
    gains = [
        f"{NOUN.get(t, t)} {fmt(r2_of(s, t, 'top1+biases', 'ols', 'lomo', 'delta_r2'), 2)} "
        f"({p_is(r2_of(s, t, 'top1+biases', 'ols', 'lomo', 'p_delta'))})"
        for t in targets
        if np.isfinite(r2_of(s, t, "top1+biases", "ols", "lomo", "delta_r2"))
    ]
    if gains:
        out.append(
            Finding(
                "Beyond top-1",
                "added to ImageNet top-1, the biases change the LOMO R² (OLS) by "
                + "; ".join(gains)
                + " (permutation p of the bias block).",
            )
        )
    return out


def model_findings(analysis: Analysis, min_models: int = 5) -> list[Finding]:
    """Per model the measurements where it is the highest or lowest of the zoo (at least ``min_models``
    models), or, in a smaller zoo, its measured values."""
    table = analysis.scores.join(analysis.biases, how="outer")
    columns = [c for c in (TOP1, *(s.name for s in SCORES), *(b.name for b in BIASES)) if c in table.columns]
    table = table[columns].dropna(axis=1, how="all")
    out: dict[str, list[str]] = {}
    if len(table) < min_models:
        for model, row in table.iterrows():
            values = [f"{NOUN.get(c, c)} {_value(c, v)}" for c, v in row.items() if np.isfinite(v)]
            out[str(model)] = values or ["no score or bias measured"]
    else:
        for column in table.columns:
            values = table[column].dropna()
            for word, extreme in (("highest", values.max()), ("lowest", values.min())):
                holders = values.index[values == extreme]
                if len(holders) == 1 and values.nunique() > 1:  # a value shared by several models stands out for none
                    text = f"{word} {NOUN.get(column, column)} ({_value(column, extreme)})"
                    out.setdefault(str(holders[0]), []).append(text)
    return [Finding(model, "; ".join(items) + ".") for model, items in out.items()]


def _value(column: str, value: float) -> str:
    unit = UNIT.get(column, "")
    return f"{fmt(value, 1)} %" if unit == "%" else fmt(value, 2)


def design_findings(analysis: Analysis) -> list[Finding]:
    """What a study of this size and content cannot show, said first."""
    n = len(analysis.scores.index.union(analysis.biases.index))
    out = []
    scores = analysis.scores[[s.name for s in SCORES if s.name in analysis.scores.columns]]
    with_score = int(scores.notna().any(axis=1).sum())
    with_bias = int(analysis.biases.notna().any(axis=1).sum())
    if analysis.correlations.empty:
        out.append(
            Finding(
                f"{n} model{'s' * (n != 1)}",
                (
                    "no correlation between biases and generalization can be computed: it needs at least "
                    f"{MIN_CORRELATION_MODELS} models with a bias and a complete generalization score; "
                    f"{with_bias} have a bias and {with_score} a complete score."
                ),
            )
        )
    elif n < FEW_MODELS:
        out.append(
            Finding(
                f"{n} models",
                "with fewer than 10 models only near-perfect rank agreement reaches "
                "p < 0.05; read the correlations as hints.",
            )
        )
    if with_score == 0:
        needs = "; ".join(f"{s.title}: {', '.join(m.dataset for m in s.members)}" for s in SCORES)
        out.append(Finding("No scores", f"no model has a complete generalization score (needs {needs})."))
    e = analysis.explained
    if e is None or e.summary.empty:
        out.append(
            Finding(
                "No joint prediction",
                "predicting the scores from all biases needs at least 8 models with every bias and the score.",
            )
        )
    return out


def findings(analysis: Analysis, correction: str = "holm", alpha: float = 0.05, regressor: str = "ridge") -> Findings:
    """The summary of ``analysis``: design limits, correlations after ``correction``, the joint prediction
    (``regressor``) under both validations, the design caveats and each model's standout values."""
    correlations, words = correlation_findings(analysis, correction, alpha)
    return Findings(
        design=design_findings(analysis),
        correlations=correlations,
        joint=joint_findings(analysis, regressor),
        caveats=design_caveats(analysis, regressor, correction, alpha),
        models=model_findings(analysis),
        correction=words,
    )


def placed_value(value: float, unit: str) -> str:
    """A placed value with its unit's precision: percent with 1 decimal, cycles/image 1, others 2."""
    if unit == "%":
        return f"{fmt(value, 1)} %"
    return fmt(value, 1) if unit == "cycles/img" else fmt(value, 2)


def placement_findings(placement: Placement) -> list[Finding]:
    """Per user model: the measurements placed with the study's protocol, those placed approximately (with
    their CI, rank and whether they leave the study's range) and those not comparable."""
    out = []
    for model, rows in placement.table.groupby("model", sort=False):
        parts = []
        for status, words in (("same", "same protocol"), ("approximate", "approximate (other or fewer images)")):
            chosen = rows[rows["status"] == status]
            items = []
            for _, r in chosen.iterrows():
                ci = (
                    f" [{placed_value(r['ci_low'], r['unit']).removesuffix(' %')}, "
                    f"{placed_value(r['ci_high'], r['unit'])}]"
                    if np.isfinite(r["ci_low"])
                    else ""
                )
                where = f"#{int(r['rank'])} of {int(r['of'])}" + (f", tied with {int(r['ties'])}" if r["ties"] else "")
                if r["value"] > r["study_max"]:
                    where += f", above all {int(r['of']) - 1}"
                elif r["value"] < r["study_min"]:
                    where += f", below all {int(r['of']) - 1}"
                items.append(f"{r['title']} {placed_value(r['value'], r['unit'])}{ci} ({where})")
            if items:
                parts.append(f"{words}: " + "; ".join(items))
        missing = rows[rows["status"] == "not comparable"]
        if len(missing):
            parts.append("not comparable: " + ", ".join(missing["title"]) + " (reasons in the table)")
        out.append(Finding(str(model), ". ".join(p[0].upper() + p[1:] for p in parts) + "."))
    return out
