"""The closing sections: the notes (what is missing and why) and the statistics, listing only the steps that
ran, with their settings, for the user's analysis and, with a context, the study's."""

from __future__ import annotations

from html import escape

from biasbench.analysis.pipeline import Analysis
from biasbench.analysis.ranking_bias import RANKING_BIASES, ranking_bias_table
from biasbench.report.sections.base import ReportData, Section

SCORES_TEXT = (
    "Scores (Gavrikov & Keuper, CVPR 2024), in percent: ID = mean top-1 on ImageNet val, V2 and ReaL; "
    "Robustness = mean of ImageNet-A, -C and -C̄; Concepts = mean of ImageNet-Sketch, -R and Stylized; "
    "Adversarial = PGD robust top-1."
)


def steps(a: Analysis) -> list[str]:
    """The statistical steps that ran on ``a``, each with its settings, in words."""
    s = a.settings
    out = []
    c = a.correlations
    if not c.empty:
        methods = ", ".join(sorted(set(c["method"])))
        subsets = [x for x in ("total", "at", "other") if x in set(c["subset"])]
        out.append(
            f"Correlations across models ({methods}) on the subsets {', '.join(subsets)}, with scipy's "
            "two-sided p-values."
        )
        if s.get("n_boot"):
            out.append(f"95 % percentile-bootstrap CIs over models, {s['n_boot']:,} resamples (seed {s['seed']}).")
        if set(c["control"]) - {"none"}:
            out.append(
                "Partial correlations given ImageNet top-1 (rank-based for Spearman; Kendall's partial τ "
                "has no p-value)."
            )
        out.append(
            "Holm (family-wise) and Benjamini–Hochberg (false discovery rate) adjusted p-values within each "
            "(subset, method, control) family; the report marks significance by Holm."
        )
        if any(x.startswith("without:") for x in c["subset"]):
            out.append("Leave-one-category-out: every correlation recomputed without each category in turn.")
    e = a.explained
    if e is not None and not e.summary.empty:
        perm = int(e.summary["n_perm"].max())
        schemes = " and ".join(x.upper() for x in dict.fromkeys(e.summary["scheme"]))
        out.append(
            f"Joint prediction (OLS, ridge, rank OLS) validated by {schemes}"
            + (f", permutation p-values from {perm:,} permutations" if perm else ", no permutation test")
            + (f", bootstrap CIs of R² from {s['n_boot']:,} resamples" if s.get("n_boot") else "")
            + "."
        )
        if a.explained_other is not None:
            out.append("The same joint prediction within the models outside adversarial training (LOMO, LOCO).")
    if a.informativeness is not None and not a.informativeness.empty:
        boots = s.get("informativeness_boot", 0)
        out.append(
            f"Informativeness: leave-one-model-out category accuracy, {boots:,} bootstrap resamples of the "
            "models for the gain's CI."
            if boots
            else "Informativeness: point estimates only (no bootstrap)."
        )
    out += _more_steps(a)
    crit = a.criticality
    if crit is not None and not crit.accuracy_correlation.empty and (crit.accuracy_correlation["n"] >= 3).any():
        out.append(
            "Average layer criticality against ImageNet top-1: Spearman and Kendall, with and without "
            "the adversarially trained models."
        )
    return out


def _more_steps(a: Analysis) -> list[str]:
    """The steps of effective robustness, the ranking-based shape bias and the failure factors that ran."""
    boot, out = a.settings.get("n_boot", 0), []
    er = a.effective_robustness
    if er is not None:
        out.append(
            f"Effective robustness: per OOD set an OLS line on {er.transform} axes through the reference models"
            + (
                f", its coefficients and each model's ER with percentile-bootstrap intervals over the reference "
                f"models ({boot:,} resamples)"
                if boot
                else ""
            )  # fmt: skip
            + "; Spearman ρ of each bias with ER and partial ρ with the OOD top-1 given ImageNet top-1, bootstrap "
            "CIs over models, Holm within each family."
        )
    table = ranking_bias_table(a.records)
    if any(table[["shape_bias", c]].notna().all(axis=1).sum() >= 3 for c in RANKING_BIASES):
        out.append("Ranking-based vs 16-class shape bias: Spearman ρ across the models with both, bootstrap CI.")
    ff = a.failure_factors
    if ff is not None and not ff.correlations.empty:
        out.append("ImageNet-X: Spearman ρ of each bias with each factor's error ratio, bootstrap CIs, Holm.")
    return out


def notes_section(data: ReportData) -> list[Section]:
    """Everything the analysis could not compute, and why."""
    notes = list(data.analysis.notes)
    html = (
        ("<ul class='notes'>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
        if notes
        else ("<p>Every measurement the report looks for was found.</p>")
    )
    return [Section("notes", "Notes: what is missing and why", html=html)]


def statistics_section(data: ReportData) -> list[Section]:
    """The statistical steps that ran, per analysis shown."""
    parts = [f"<p>{escape(SCORES_TEXT)}</p>"]
    shown = [("Your models", data.analysis)] if data.context is None or not data.analysis.correlations.empty else []
    if data.context is not None:
        shown.append((data.context.title, data.context.analysis))
    for label, a in shown:
        ran = steps(a)
        parts.append(f"<p><b>{escape(label if data.context is not None else 'Steps that ran')}</b></p>")
        parts.append(
            "<ul>" + "".join(f"<li>{escape(x)}</li>" for x in ran) + "</ul>"
            if ran
            else "<p>No across-model statistics ran (too few models).</p>"
        )
    return [Section("statistics", "Statistics", html="".join(parts))]
