"""The models table (ranked, headline scores first) and, with a context, where the user's models fall among the
study's models: a strip chart of every measurement and the placement table with the comparability verdicts."""

from __future__ import annotations

import numpy as np
import pandas as pd

from biasbench.analysis.model_kinds import CLASSIFIER
from biasbench.analysis.specs import BIASES, SCORES
from biasbench.plots.placement import placement_figure
from biasbench.report.sections.base import ReportData, Section
from biasbench.report.tables import Cell, Col, ranked, table_html

DIGITS = {s.name: 1 for s in SCORES} | {
    "imagenet_top1": 1,
    "shape_bias": 2,
    "low_freq_bias": 2,
    "high_freq_bias": 3,
    "bandwidth": 2,
    "center_frequency": 1,
    "peak_noise_sensitivity": 2,
}
VALUE_COLUMNS = (
    *(Col(s.name, f"{s.title} [%]", 1) for s in SCORES),
    Col("imagenet_top1", "ImageNet top-1 [%]", 1),
    *(Col(b.name, f"{b.title} [{b.unit}]", DIGITS[b.name]) for b in BIASES),
)
YOURS = "yours"
# What the table is ranked by: the first of these that every model has, else the first any model has.
RANK_KEYS = ("id", "imagenet_top1", *(b.name for b in BIASES))
RANK_NAMES = {"id": "ID", "imagenet_top1": "ImageNet top-1"} | {b.name: b.noun or b.title for b in BIASES}


def failed_fits(analysis) -> dict[str, str]:
    """Model -> why its critical-band fit failed, for models whose fit is flagged degenerate."""
    r = analysis.records
    flagged = r[(r["probe"] == "critical-band") & (r["metric"] == "fit_degenerate") & (r["value"] > 0)]
    out = {}
    for _, row in flagged.iterrows():
        job = analysis.jobs.get(row["job"])
        fit = job.notes.get("fit") if job is not None else None
        out[str(row["model"])] = (fit or {}).get("reason", "") if isinstance(fit, dict) else ""
    return out


def _own_rows(analysis) -> pd.DataFrame:
    table = analysis.scores.join(analysis.biases, how="outer").join(analysis.categories).reset_index()
    table["category"] = table["category"].str.replace("_", " ")
    table = table.astype(object)
    for model, reason in failed_fits(analysis).items():
        for name in ("bandwidth", "center_frequency", "peak_noise_sensitivity"):
            table.loc[table["model"] == model, name] = Cell("fit failed", tip=reason or "degenerate fit", cls="failed")
    return table


def _your_rows(data: ReportData) -> pd.DataFrame:
    rows = []
    for model, part in data.placement.table.groupby("model", sort=False):
        row = {"model": model, "category": YOURS}
        for _, r in part.iterrows():
            digits = DIGITS.get(r["measurement"], 2)
            if r["status"] == "same":
                row[r["measurement"]] = float(r["value"])
            elif r["status"] == "approximate":
                row[r["measurement"]] = Cell(f"≈{r['value']:.{digits}f}", r["value"], r["reason"], "approx")
            else:
                row[r["measurement"]] = Cell("n/c", "", f"not comparable: {r['reason']}", "nc")
        rows.append(row)
    return pd.DataFrame(rows)


def _sort_key(value) -> float:
    if isinstance(value, Cell):
        return float(value.sort) if value.sort != "" else np.nan
    return float(value) if value is not None and value == value else np.nan


def models_section(data: ReportData) -> list[Section]:
    """All models ranked by ID (else ImageNet top-1), scores first, then ImageNet top-1 and the biases."""
    if data.context is None:
        table = _own_rows(data.analysis)
        intro = (
            "Every model with its generalization scores (percent, Gavrikov & Keuper's definitions), ImageNet "
            "top-1 and its biases; click a header to sort."
        )
    else:
        study = data.context.analysis
        table = pd.concat([_own_rows(study), _your_rows(data)], ignore_index=True)
        intro = (
            f"{data.context.title}: the study's models and yours (highlighted). ≈ marks a value measured on "
            "other or fewer images than the study's, n/c one that is not comparable (hover for why); click a "
            "header to sort."
        )
    keys = {c: table[c].map(_sort_key) for c in RANK_KEYS if c in table.columns}
    by = next(
        (c for c, k in keys.items() if k.notna().all()), next((c for c, k in keys.items() if k.notna().any()), None)
    )
    order = keys[by].sort_values(ascending=False, na_position="last", kind="stable").index if by else table.index
    table = ranked(table.loc[order].reset_index(drop=True), [])
    columns = [
        c
        for c in VALUE_COLUMNS
        if c.key in table.columns
        and table[c.key].map(_sort_key).notna().any()
        or any(isinstance(v, Cell) for v in table.get(c.key, []))
    ]
    cols = [Col("rank", "#", 0), Col("model", "model", wrap=True)]
    if data.context is not None or (table["category"] != "uncategorised").any():
        cols.append(Col("category", "category"))
    kinds = data.kinds()
    if any(k.family != CLASSIFIER for k in kinds.values()):  # say how the zero-shot and imported models decide
        table["decides"] = [Cell(kinds[m].how, tip=kinds[m].detail) if m in kinds else "" for m in table["model"]]
        cols.append(Col("decides", "how it decides", wrap=True, tip="from the jobs' manifests"))
    cols += columns
    ranked_by = RANK_NAMES.get(by, "name")
    html = table_html(
        table,
        cols,
        caption=f"Ranked by {ranked_by}, highest first.",
        row_class=lambda r: "yours" if r["category"] == YOURS else "",
    )
    notes = []
    if not any(c.key in {s.name for s in SCORES} for c in columns):
        notes.append(
            "No model has a complete generalization score; the notes at the end say which records each score needs."
        )
    return [Section("models", "Models", intro, [html], notes=notes)]


PLACEMENT_COLUMNS = (
    Col("model", "model", wrap=True),
    Col("title", "measurement"),
    Col("status", "comparable?"),
    Col("value", "your value", 2),
    Col("ci", "95 % CI"),
    Col("n_images", "images", 0),
    Col("rank_text", "rank (of study + 1)"),
    Col("study_range", "study min / median / max"),
    Col("reason", "what differs from the study", wrap=True),
)


def placement_section(data: ReportData) -> list[Section]:
    """Context mode only: each measurement of each user model against the study's distribution."""
    if data.placement is None:
        return []
    context, table = data.context, data.placement.table.copy()
    study = context.analysis.scores.join(context.analysis.biases)
    fig = placement_figure(study, context.analysis.categories, table, study_label=context.title)
    caption = (
        "One panel per measurement: the study's models as dots (one row per category), yours as stars (one "
        "colour per model) with their 95 % CI and rank; ≈ = approximate, 'not comparable' = not placed (see the table)."
    )
    figure = data.figs.add(fig, "placement", caption)

    def digits(row) -> int:
        return DIGITS.get(row["measurement"], 2)

    table["value"] = [
        Cell(f"{v:.{digits(r)}f} {r['unit'] if r['unit'] == '%' else ''}".strip(), v) if np.isfinite(v) else None
        for v, (_, r) in zip(table["value"], table.iterrows(), strict=True)
    ]
    table["ci"] = [
        f"{r['ci_low']:.{digits(r)}f} – {r['ci_high']:.{digits(r)}f}" if np.isfinite(r["ci_low"]) else ""
        for _, r in table.iterrows()
    ]
    table["rank_text"] = [
        Cell(f"{int(r['rank'])} of {int(r['of'])}", r["rank"]) if np.isfinite(r["rank"]) else None
        for _, r in table.iterrows()
    ]
    table["study_range"] = [
        f"{r['study_min']:.{digits(r)}f} / {r['study_median']:.{digits(r)}f} / {r['study_max']:.{digits(r)}f}"
        for _, r in table.iterrows()
    ]
    table["reason"] = [r["reason"] or ("—" if r["status"] == "same" else "") for _, r in table.iterrows()]
    html = table_html(table, PLACEMENT_COLUMNS, row_class=lambda r: r["status"].replace(" ", "-"))
    protocols = pd.DataFrame([{"title": r.title, "study": r.study} for r in context.rules])
    html += table_html(
        protocols,
        (Col("title", "measurement"), Col("study", f"{context.title}: protocol")),
        caption="What the study measured",
        sortable=False,
    )
    intro = (
        f"Each measurement of your models next to the same measurement of {context.models}. The rule set "
        "(biasbench.analysis.comparability): same protocol = placed as is; approximate = the same quantity "
        "on other or fewer images or with a weaker setting, placed with its n and CI; not comparable = a "
        "different quantity, not measured or a failed fit, never placed."
    )
    notes = [
        "The study's models are all ResNet-50s; a model of another architecture is placed by its values, "
        "but the study's correlations were measured within that one architecture."
    ]
    return [Section("placement", f"Your models among the study's {len(study)}", intro, [html], [figure], notes)]
