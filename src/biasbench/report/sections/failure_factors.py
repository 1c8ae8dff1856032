"""The failure-factors section (ImageNet-X, Idrissi et al., ICLR 2023): each model's error ratio per annotated
factor of variation from its stored ImageNet-val predictions, the biases' correlations with those ratios, and
what was read and skipped per model."""

from __future__ import annotations

from biasbench.analysis.failure_factors import NOT_VAL
from biasbench.plots.failure_factors import bias_factor_heatmap, factor_ratio_heatmap
from biasbench.report.sections.base import ReportData, Section
from biasbench.report.sections.correlations import READ_HEATMAP
from biasbench.report.tables import Col, table_html

INTRO = (
    "Why models fail (ImageNet-X, Idrissi et al., ICLR 2023): ImageNet validation images carry human-annotated "
    "factors of variation (pose, background, pattern, colour, size, ...); a model's error ratio for a factor is its "
    "error rate on the images with that factor divided by its error rate on all annotated images: above 1 it fails "
    "more often than usual when the factor is present. Computed from the stored top-1 (no model re-run), each "
    "image's main factor, as the imagenet-x package does."
)
COUNT_COLUMNS = (
    Col("model", "model", wrap=True),
    Col("stored", "stored images", 0),
    Col("not_val", "skipped: not a val file", 0),
    Col("annotated", "annotated by ImageNet-X", 0),
    Col("label_mismatch", "stored label ≠ ImageNet-X class", 0),
)


def failure_factors_section(data: ReportData) -> list[Section]:
    """Error ratios (models x factors), bias x factor correlations where at least 3 models have both, and the
    counts of what was read; nothing when no ImageNet-X ratio could be computed."""
    ff = data.analysis.failure_factors
    if ff is None or ff.ratios.empty:
        return []
    section = Section("failure-factors", "Why models fail: ImageNet-X factors", INTRO)
    caption = (
        "Error ratio per factor (columns) and model (rows); blue: fewer errors than the model's average when the "
        "factor is present, red: more. Ratios of rare factors rest on few images (counts in factor_error_ratios.csv "
        "of `biasbench factors`)."
    )
    section.figures.append(data.figs.add(factor_ratio_heatmap(ff.ratios), "factor_error_ratios", caption))
    if not ff.correlations.empty:
        fig = bias_factor_heatmap(ff.correlations)
        caption = (
            "Spearman ρ across models between each factor's error ratio (rows) and each bias (columns): e.g. a "
            "negative shape bias × pattern cell means the more shape-biased models make relatively fewer errors on "
            f"unusual patterns. {READ_HEATMAP}"
        )
        section.figures.append(data.figs.add(fig, "bias_factor_correlations", caption))
    section.tables.append(table_html(ff.counts, COUNT_COLUMNS, caption="Images read per model."))
    skipped = int(ff.counts["not_val"].sum())
    if skipped:  # one line, not one per model: the table gives each model's count
        section.notes.append(
            f"{skipped:,} of the {int(ff.counts['stored'].sum()):,} stored images are not ImageNet validation files "
            "(not named ILSVRC2012_val_XXXXXXXX.JPEG) and were skipped, never guessed (per model in the table)."
        )
    section.notes += [n for n in ff.notes if NOT_VAL not in n]  # said in one line above
    return [section]
