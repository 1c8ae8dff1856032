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
from biasbench.analysis.effective_robustness import EffectiveRobustness
from biasbench.analysis.explain import TOP1
from biasbench.analysis.line_fit import MAX_SLOPE_CI_WIDTH
from biasbench.analysis.model_kinds import IMPORTED, ZERO_SHOT, model_kinds
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
    effective: list[Finding] = field(default_factory=list)  # biases vs effective robustness, unstable lines

    def all(self) -> list[Finding]:
        return [*self.design, *self.correlations, *self.joint, *self.effective, *self.caveats, *self.models]


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


def effective_robustness_findings(
    er: EffectiveRobustness | None, correction: str = "holm", alpha: float = 0.05
) -> list[Finding]:
    """One finding on effective robustness: per bias, the OOD sets where its Spearman ρ with ER across all
    models survives ``correction`` (the strongest with its CI and the partial ρ given top-1 there), or the
    strongest cell when none does; the sets where ER still correlates with ImageNet top-1; the unstable lines."""
    if er is None or er.correlations.empty:
        return []
    cells = er.side_by_side()
    column, words = CORRECTIONS[correction]
    cells = cells.dropna(subset=["rho_er"])
    if cells.empty:
        return []
    titles = {o.name: o.title for o in er.ood_sets}
    n_sets = len(er.lines)
    text = f"against the line of {er.reference_words()} on {n_sets} OOD set{'s' * (n_sets != 1)}, "
    hits = cells[cells[f"{column}_er"] < alpha]
    if len(hits):
        parts = []
        for bias, part in hits.groupby("bias", sort=False):
            top = part.loc[part["rho_er"].abs().idxmax()]
            parts.append(
                f"{NOUN.get(bias, bias)} on {len(part)} of {n_sets} (strongest {titles[top['ood']]}: ρ = "
                f"{fmt(top['rho_er'])} [{fmt(top['ci_low_er'])}, {fmt(top['ci_high_er'])}], partial ρ given "
                f"top-1 {fmt(top['rho_partial'])})"
            )
        verb = "survives" if len(hits) == 1 else "survive"
        text += f"{len(hits)} of {len(cells)} bias × set correlations with ER {verb} {words} p < {alpha:g}: "
        text += "; ".join(parts) + "."
    else:
        top = cells.loc[cells["rho_er"].abs().idxmax()]
        text += (
            f"no bias correlates with ER after correction; the strongest is {NOUN.get(top['bias'], top['bias'])} "
            f"on {titles[top['ood']]} (ρ = {fmt(top['rho_er'])}, {p_is(top[f'{column}_er'], 'adjusted p')})."
        )
    with_top1 = [r.ood for r in er.fits.itertuples() if r.p_er_id < alpha]
    if with_top1:
        text += (
            f" ER still correlates with ImageNet top-1 on {_sets(with_top1, titles)} (p < {alpha:g}): there a bias "
            "that goes with accuracy goes with ER too; compare the partial correlations."
        )
    if er.unstable:
        stable = [titles[o] for o in er.lines if o not in er.unstable]
        text += (
            f" The reference line is unstable (slope CI wider than {MAX_SLOPE_CI_WIDTH:g}) on "
            f"{_sets(er.unstable, titles)}: ER there extrapolates a line the reference models do not determine"
            + (f" (stable: {join_words(stable)})." if stable else ".")
        )
    return [Finding("Effective robustness", text)]


def _sets(names: list[str], titles: dict[str, str]) -> str:
    """OOD sets in words: "every set", "every set but X" when most are named, else their titles."""
    rest = [t for n, t in titles.items() if n not in names]
    if not rest:
        return f"every set ({len(names)})" if len(names) > 1 else titles[names[0]]
    if len(names) > len(rest) + 1:
        return f"every set but {join_words(rest)}"
    return join_words([titles[n] for n in names])


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
    out += decision_findings(analysis)
    e = analysis.explained
    if e is None or e.summary.empty:
        out.append(
            Finding(
                "No joint prediction",
                "predicting the scores from all biases needs at least 8 models with every bias and the score.",
            )
        )
    return out


def decision_findings(analysis: Analysis) -> list[Finding]:
    """Where the zoo mixes decision rules: the models whose cue-conflict decision is made among the 16 categories
    directly (a zero-shot head over the 16 names, a VLM's imported answers) beside classifiers mapped from 1000."""
    kinds = {m: k for m, k in model_kinds(analysis.jobs.values()).items() if m in set(analysis.biases.index)}
    direct = {m: k for m, k in kinds.items() if k.decides_16_directly}
    if not direct:
        return []
    words = {ZERO_SHOT: "zero-shot CLIP", IMPORTED: "imported VLM answers"}
    named = join_words([f"{m} ({words.get(k.family, k.family)})" for m, k in direct.items()])
    mapped = len(kinds) - len(direct)
    text = f"{named} decide{'s' * (len(direct) == 1)} among the 16 categories directly"
    if mapped:
        whose = "the classifier's decisions are" if mapped == 1 else f"the {mapped} classifiers' decisions are"
        text += (
            f", while {whose} mapped from 1000 ImageNet classes (model-vs-human): the same shape bias under another "
            "decision rule, and no 1000-class ranking for REFINED-BIAS's metric"
        )
    return [Finding("Decision rules", text + ".")]


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
        effective=effective_robustness_findings(analysis.effective_robustness, correction, alpha),
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
