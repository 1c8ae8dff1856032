"""Further sections: layer criticality per architecture, the comparison with the human observers, robustness
vs transfer, test resolution and SI-SCORE (object size, location and rotation)."""

from __future__ import annotations

import pandas as pd

from biasbench.analysis.sentences import fmt_p
from biasbench.analysis.specs import BEST_RESOLUTION, SI_SCORE_TOP1
from biasbench.plots.criticality import architectures, criticality_by_architecture, criticality_vs_accuracy
from biasbench.plots.figures import error_consistency_bars
from biasbench.plots.object_factors import si_score_figure
from biasbench.report.sections.base import ReportData, Section
from biasbench.report.tables import Col, table_html
from biasbench.store.conditions import FactorLevel, Location, parse_as
from biasbench.store.metrics import probe_rows

SI_FACTORS = {"area": "object size", "location": "object location", "rotation": "object rotation"}


def criticality_section(data: ReportData) -> list[Section]:
    """One heat-map panel per architecture; the accuracy scatter and per-category table where they mean
    something (at least 3 models with top-1; one architecture)."""
    a = data.analysis
    c = a.criticality
    if c is None:
        return []
    intro = (
        "Layer criticality (Gavrikov et al., 2024): each layer re-initialised in turn, criticality = (1 − mean "
        "cosine similarity of the softmax outputs) × 100; 0 = the layer can be reset without changing the "
        "outputs, 100 = resetting it destroys them. One panel per architecture, layers in network order."
    )
    section = Section("criticality", "Layer criticality", intro)
    caption = "Criticality [%] per layer (columns) and model (rows); brighter = more critical."
    section.figures.append(data.figs.add(criticality_by_architecture(c.matrix, c.categories), "criticality", caption))
    per_model = c.model_mean.copy()
    per_model["layers"] = per_model["model"].map(c.matrix.notna().sum(axis=1))
    cols = [
        Col("model", "model", wrap=True),
        Col("category", "category"),
        Col("layers", "layers", 0),
        Col("mean_criticality", "mean criticality [%]", 1),
    ]
    per_model = table_html(per_model.sort_values("mean_criticality", ascending=False), cols)
    section.tables.append(
        per_model
        if len(c.model_mean) <= 12
        else f"<details><summary>Mean criticality per model ({len(c.model_mean)} models)</summary>{per_model}</details>"
    )
    section.notes += c.notes
    top1 = c.top1
    correlated = c.accuracy_correlation[c.accuracy_correlation["n"] >= 3]
    if top1.notna().sum() >= 3 and len(correlated):
        fig = criticality_vs_accuracy(c.model_mean, top1)
        section.figures.append(
            data.figs.add(fig, "criticality_vs_accuracy", "Average criticality against ImageNet top-1")
        )
        cols = [
            Col("models", "models"),
            Col("method", "method"),
            Col("rho", "ρ", 2),
            Col("p", "p", format=fmt_p),
            Col("ci_low", "CI low", 2),
            Col("ci_high", "CI high", 2),
            Col("n", "n", 0),
        ]
        section.tables.append(table_html(correlated, cols, caption="Average criticality vs ImageNet top-1"))
    elif top1.notna().any():
        section.notes.append(
            f"Average criticality against ImageNet top-1 needs at least 3 models with both; {int(top1.notna().sum())}"
            " have ImageNet-val top-1."
        )
    if len(architectures(c.matrix)) == 1 and c.per_category["n_models"].max() > 1:
        table = c.per_category.reset_index().rename(columns={"index": "category"})
        cols = [Col("category", "category"), Col("n_models", "models", 0), Col("mean_criticality", "mean [%]", 1)]
        cols += [Col(s, f"{s} [%]", 1) for s in c.per_stage.columns]
        section.tables.append(table_html(table, cols, caption="Mean criticality per category and stage"))
    return [section]


HUMANS_INTRO = (
    "16-class decisions of the models against the human observers of model-vs-human (Geirhos et al., NeurIPS "
    "2021), matched trial by trial on the image. Error consistency κ = (c_obs − c_exp) / (1 − c_exp): c_obs = "
    "trials both get right or both wrong, c_exp = p₁p₂ + (1 − p₁)(1 − p₂); κ = 0: errors unrelated beyond accuracy, "
    "the dashed line: humans among themselves."
)


def humans_section(data: ReportData) -> list[Section]:
    """Accuracy, error consistency and shape bias against the humans (the per-category plot is in Shape bias)."""
    h = data.analysis.humans
    if h is None or h.summary.empty:
        return []
    cols = [
        Col("dataset", "dataset"),
        Col("observer", "observer"),
        Col("accuracy16", "16-class accuracy", 3),
        Col("kappa", "error consistency κ", 3),
        Col("c_obs", "c_obs", 3),
        Col("c_exp", "c_exp", 3),
        Col("n_trials", "trials", 0),
        Col("n_subjects", "human subjects", 0),
    ]
    if "shape_bias" in h.summary:
        cols.append(Col("shape_bias", "shape bias", 3))
    section = Section("humans", "Models against humans", HUMANS_INTRO, [table_html(h.summary, cols)])
    fig = error_consistency_bars(h.summary, data.styles())
    if fig is not None:
        section.figures.append(data.figs.add(fig, "error_consistency", "Error consistency with the human subjects"))
    return [section]


def transfer_section(data: ReportData) -> list[Section]:
    """Djolonga et al. (2021): Spearman matrix over ImageNet, robustness and transfer; residual analysis."""
    from biasbench.analysis.robustness_transfer import meta_table, residual_table, rho_matrix, spearman_matrix
    from biasbench.plots.robustness_transfer import rho_heatmap

    table = meta_table(data.analysis.records)
    if not any(c.startswith("transfer") for c in table.columns) or len(table) < 3:
        return []
    pairs = spearman_matrix(table)
    matrix = rho_matrix(pairs, table.columns)
    figure = data.figs.add(rho_heatmap(matrix), "robustness_transfer", "Spearman ρ: ImageNet, robustness, transfer")
    residuals = residual_table(table).reset_index()
    tables = [
        table_html(residuals, [Col(c, c, 3 if residuals[c].dtype.kind == "f" else None) for c in residuals]),
        table_html(pairs, [Col(c, c, 3 if pairs[c].dtype.kind == "f" else None) for c in pairs]),
    ]
    intro = (
        "Spearman ρ across models between ImageNet accuracy, robustness metrics and transfer (Djolonga et al., "
        "CVPR 2021); residual = mean robustness minus ImageNet top-1 (or its OLS residual), against transfer."
    )
    return [Section("robustness-transfer", "Robustness vs transfer", intro, tables, [figure])]


def resolution_section(data: ReportData) -> list[Section]:
    """Top-1 against test resolution, naive and with BatchNorm statistics re-estimated."""
    from biasbench.plots.resolution import resolution_figure

    fig = resolution_figure(data.analysis.records)
    if fig is None:
        return []
    best = BEST_RESOLUTION.rows(data.analysis.records)
    table = best[["model", "dataset", "condition", "value"]].rename(columns={"condition": "protocol"})
    cols = [
        Col("model", "model", wrap=True),
        Col("dataset", "dataset"),
        Col("protocol", "protocol"),
        Col("value", "best resolution [px]", 0),
    ]
    caption = "Top-1 against test resolution (solid: naive, dashed: BatchNorm re-estimated; star: best r)"
    return [
        Section(
            "resolution",
            "Test resolution",
            "The test resolution at which each model is most accurate.",
            [table_html(table, cols)],
            [data.figs.add(fig, "resolution", caption)],
        )
    ]


def si_score_section(data: ReportData) -> list[Section]:
    """Djolonga et al. (2021): top-1 against object size and rotation (curves) and location (heat-maps), one
    figure per factor measured; the factors not measured are named."""
    rows = probe_rows(data.analysis.records, SI_SCORE_TOP1.probe)
    rows = rows[rows["condition"].astype(str) != ""]
    if rows.empty:
        return []
    factor = pd.Series([parse_as(c, FactorLevel, Location).factor for c in rows["condition"]], index=rows.index)
    intro = (
        "SI-SCORE (Djolonga et al., CVPR 2021): objects pasted onto backgrounds at controlled size, location "
        "and rotation; top-1 per setting shows where a model stops recognising them."
    )
    section = Section("si-score", "Object size, location and rotation (SI-SCORE)", intro)
    order = {k: i for i, k in enumerate(SI_FACTORS)}  # size, location, rotation
    groups = sorted(rows.groupby([rows["dataset"], factor]), key=lambda g: (g[0][0], order.get(g[0][1], len(order))))
    for (dataset, kind), part in groups:
        caption = f"SI-SCORE {SI_FACTORS.get(kind, kind)} on {dataset}" + (
            " (rotation: top-1 normalised to each model's best angle)" if kind == "rotation" else ""
        )
        section.figures.append(
            data.figs.add(si_score_figure(part, data.styles()), f"si_score_{dataset}_{kind}", caption)
        )
    missing = [name for key, name in SI_FACTORS.items() if key not in set(factor)]
    if missing:
        section.notes.append(
            f"Not run: {', '.join(missing)} (biasbench run -p si-score --set si-score.variant=location|rotation)."
        )
    return [section]
