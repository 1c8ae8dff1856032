"""Across-model sections: bias-vs-score correlations (heat-maps with significance after correction, a ranked
table), leave-one-category-out stability, the scatter rows and the bias-bias matrix. Each is built per zoo
(``ReportData.zoos``): the user's models, and with a context the released study's (the user's placed
models drawn into its scatter rows)."""

from __future__ import annotations

from biasbench.analysis.pipeline import Analysis
from biasbench.analysis.sentences import CORRECTIONS, NOUN, fmt_p
from biasbench.plots.correlation import correlation_panels
from biasbench.plots.placement import scatter_row
from biasbench.report.sections.base import ReportData, Section
from biasbench.report.tables import Col, table_html

CORRECTION = "holm"
READ_HEATMAP = (
    "Colour only where ρ is significant after the Holm correction (red positive, blue negative); grey cells are not "
    "significant (° = p < 0.05 before correction, the study's display rule); brackets: 95 % bootstrap CI, per cell "
    "and unadjusted, so a CI that excludes 0 can sit in a grey cell that did not survive the correction."
)


def _ranked_cells(a: Analysis) -> str:
    cells = a.correlations
    cells = cells[(cells["subset"] == "total") & (cells["method"] == "spearman") & (cells["control"] == "none")]
    cells = cells.assign(
        bias_name=cells["bias"].map(lambda b: NOUN.get(b, b)),
        score=cells["benchmark"].map(lambda b: NOUN.get(b, b)),
        significant=(cells[CORRECTIONS[CORRECTION][0]] < a.settings.get("alpha", 0.05)).map({True: "yes", False: "no"}),
    ).sort_values("rho", key=abs, ascending=False)
    cols = [
        Col("bias_name", "bias"),
        Col("score", "score"),
        Col("rho", "Spearman ρ", 2),
        Col("ci_low", "CI low", 2),
        Col("ci_high", "CI high", 2),
        Col("p", "p", format=fmt_p),
        Col("p_holm", "p (Holm)", format=fmt_p),
        Col("significant", "significant after Holm"),
        Col("n", "models", 0),
    ]
    return table_html(cells, cols, caption="All models, ranked by |ρ|; click a header to sort.")


def correlation_sections(data: ReportData) -> list[Section]:
    """Heat-maps per subset (all / adversarially trained / the rest), the partial correlation given ImageNet
    top-1, and the ranked table of the all-models cells."""
    out = []
    for prefix, suffix, a in data.zoos():
        if a.correlations.empty:
            continue
        subsets = [s for s in ("total", "at", "other") if s in set(a.correlations["subset"])]
        section = Section(
            f"{prefix}correlations",
            "Bias vs generalization" + suffix,
            "Spearman ρ across models between each bias (rows) and each generalization score (columns), on all "
            "models and on the category subsets. " + READ_HEATMAP,
        )
        fig = correlation_panels(a.correlations, subsets, correction=CORRECTION, cis=True)
        section.figures.append(data.figs.add(fig, f"{prefix}correlation", "Spearman ρ per subset. " + READ_HEATMAP))
        if "imagenet_top1" in set(a.correlations["control"]):
            fig = correlation_panels(a.correlations, subsets, control="imagenet_top1", correction=CORRECTION)
            caption = "Partial Spearman ρ given ImageNet top-1: what a bias says about a score beyond accuracy."
            section.figures.append(data.figs.add(fig, f"{prefix}correlation_partial", caption))
        section.tables.append(_ranked_cells(a))
        out.append(section)
        if not a.stability.empty:
            st = a.stability[(a.stability["method"] == "spearman") & (a.stability["control"] == "none")].copy()
            st["bias"] = st["bias"].map(lambda b: NOUN.get(b, b))
            st["benchmark"] = st["benchmark"].map(lambda b: NOUN.get(b, b))
            st["sign_stable"] = st["sign_stable"].map({True: "yes", False: "no"})
            st["most_influential_category"] = st["most_influential_category"].str.replace("_", " ")
            st = st.sort_values("rho_total", key=abs, ascending=False)
            cols = [
                Col("bias", "bias"),
                Col("benchmark", "score"),
                Col("rho_total", "ρ, all models", 2),
                Col("rho_min", "ρ min, one category out", 2),
                Col("rho_max", "ρ max, one category out", 2),
                Col("sign_stable", "sign kept"),
                Col("most_influential_category", "category that moves ρ most"),
            ]
            intro = (
                "Each correlation recomputed with one model category left out at a time: if the sign flips, "
                "the correlation rests on that category."
            )
            out.append(
                Section(
                    f"{prefix}stability", "Leave-one-category-out stability" + suffix, intro, [table_html(st, cols)]
                )
            )
    return out


def scatter_sections(data: ReportData) -> list[Section]:
    """One row per bias: the bias against each score, one colour and marker per category."""
    out = []
    for prefix, suffix, a in data.zoos():
        biases = a.biases.columns[a.biases.notna().sum() >= 3]
        if a.correlations.empty or not len(biases):
            continue
        yours = data.yours if prefix else None
        section = Section(
            f"{prefix}scatter",
            "Scatter plots" + suffix,
            "Each bias (x) against the four scores (y), one dot per model in its category's colour and marker"
            + (
                "; stars: your models where both values are comparable, dotted lines: your bias value where "
                "no comparable score exists."
                if yours is not None
                else "."
            ),
        )
        for bias in biases:
            fig = scatter_row(bias, a.biases, a.scores, a.categories, yours)
            caption = f"{NOUN.get(bias, bias)} against the four generalization scores"
            section.figures.append(data.figs.add(fig, f"{prefix}scatter_{bias}", caption))
        out.append(section)
    return out


def bias_bias_sections(data: ReportData) -> list[Section]:
    """Spearman ρ between the biases across all models."""
    out = []
    for prefix, suffix, a in data.zoos():
        if a.bias_bias.empty:
            continue
        fig = correlation_panels(a.bias_bias, ("total",), correction=CORRECTION, cis=True)
        intro = "How the biases go together across models (Spearman ρ, all models). " + READ_HEATMAP
        figure = data.figs.add(fig, f"{prefix}bias_bias", "Spearman ρ between biases. " + READ_HEATMAP)
        out.append(Section(f"{prefix}bias-bias", "Bias-bias correlations" + suffix, intro, figures=[figure]))
    return out
