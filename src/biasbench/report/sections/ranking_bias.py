"""The ranking-based shape bias (REFINED-BIAS, Kim et al., 2026) beside the 16-class cue-conflict ratio, shown in
the shape-bias section: a table with both and their CIs, and the scatter of one against the other with their
Spearman correlation across the models when at least three have both."""

from __future__ import annotations

import numpy as np
import pandas as pd

from biasbench.analysis.ranking_bias import PREFERENCE, ranking_bias_records, ranking_bias_table, ranking_vs_ratio
from biasbench.analysis.sentences import fmt_p
from biasbench.plots.ranking_bias import ranking_vs_ratio_scatter
from biasbench.report.sections.base import ReportData, ReportFigure
from biasbench.report.tables import Cell, Col, table_html

MIN_MODELS = 3
NO_RANKING = "no 1000-class ranking"
COLUMNS = (
    Col("model", "model", wrap=True),
    Col("shape_bias", "16-class shape bias [95 % CI]"),
    Col("shape_bias_mrr", "ranking-based shape bias, cue-conflict [95 % CI]",
        tip="shape MRR / (shape MRR + texture MRR) over the 1000-class ranking of the same stimuli"),
    Col("shape_mrr", "shape MRR", 3, tip="mean reciprocal rank of the shape's category (REFINED-BIAS's Shape-Sens)"),
    Col("texture_mrr", "texture MRR", 3, tip="mean reciprocal rank of the texture's category (Texture-Sens)"),
    Col(PREFERENCE, "REFINED-BIAS shape preference", 3,
        tip="RB_S / (RB_S + RB_T) on REFINED-BIAS's own pure-shape and pure-texture stimuli"),
)  # fmt: skip
WITH_CI = ("shape_bias", "shape_bias_mrr")


def _with_ci(rows: pd.DataFrame, column: str) -> dict[str, Cell]:
    part = rows[rows["column"] == column].set_index("model")
    out = {}
    for model, r in part.iterrows():
        text = f"{r['value']:.3f}" + (f" [{r['ci_low']:.3f}, {r['ci_high']:.3f}]" if np.isfinite(r["ci_low"]) else "")
        out[model] = Cell(text, float(r["value"]))
    return out


def ranking_bias_parts(data: ReportData) -> tuple[list[str], list[ReportFigure], list[str]]:
    """(tables, figures, notes) of the ranking-based shape bias; nothing when no model has one."""
    records = data.analysis.records
    table = ranking_bias_table(records)
    ranking = [c for c in ("shape_bias_mrr", PREFERENCE) if table[c].notna().any()]
    if not ranking:
        return [], [], []
    rows = ranking_bias_records(records)
    shown = table.copy().astype(object)
    for column in WITH_CI:
        shown[column] = pd.Series(_with_ci(rows, column), dtype=object).reindex(shown.index)
    kinds = data.kinds()
    for model in shown.index:  # a 16-name head or a VLM's answers rank no 1000 classes: said, not left blank
        kind = kinds.get(model)
        if kind is not None and not kind.ranks_imagenet:
            for column in ("shape_bias_mrr", "shape_mrr", "texture_mrr"):
                shown.at[model, column] = Cell(NO_RANKING, "", f"{kind.family}: decided {kind.how}", "nc")
    shown = shown.reset_index().assign(_key=table["shape_bias"].to_numpy()).sort_values("_key", ascending=False)
    cols = [c for c in COLUMNS if c.key != PREFERENCE or PREFERENCE in ranking]
    caption = "Sorted by the 16-class shape bias; CIs: 95 % bootstrap over the stimuli; click a header to sort."
    tables = [table_html(shown, cols, caption=caption)]
    both = table[["shape_bias", *ranking]].dropna(subset=["shape_bias"])
    n_both = int(max(both[c].notna().sum() for c in ranking))
    if n_both < MIN_MODELS:
        note = (
            f"{n_both} model{'s' * (n_both != 1)} {'has' if n_both == 1 else 'have'} both the 16-class and a "
            f"ranking-based shape bias; comparing the two across models needs at least {MIN_MODELS}."
        )
        return tables, [], [note]
    s = data.analysis.settings
    correlations = ranking_vs_ratio(table, n_boot=s.get("n_boot", 1000), seed=s.get("seed", 0), min_models=MIN_MODELS)
    words = "; ".join(
        f"{'cue-conflict ranking' if r['benchmark'] == 'shape_bias_mrr' else 'REFINED-BIAS preference'}: Spearman "
        f"ρ = {r['rho']:.2f} [{r['ci_low']:.2f}, {r['ci_high']:.2f}], p = {fmt_p(r['p'])}, n = {int(r['n'])}"
        for _, r in correlations.dropna(subset=["rho"]).iterrows()
    )
    fig = ranking_vs_ratio_scatter(table, correlations, data.families())
    caption = (
        "Each model's 16-class shape bias (x) against its ranking-based shape bias (y); dashed: equal values. "
        f"Do the two order the models alike? {words}."
    )
    return tables, [data.figs.add(fig, "ranking_vs_ratio", caption)], []
