"""The bias sections: shape bias (bars and, model-vs-human style, per category against the humans), the
spectral low-/high-pass curves and the critical-band channels with the human channel. With a context the
study's models are drawn in their category's style and the user's models as stars, one colour each."""

from __future__ import annotations

import pandas as pd

from biasbench.analysis.specs import CRITICAL_BAND_CURVE, SPECTRAL_CURVE
from biasbench.plots.figures import shape_bias_by_category
from biasbench.plots.frequency import noise_sensitivity_figure, spectral_figure
from biasbench.plots.palette import UNCATEGORISED
from biasbench.plots.placement import shape_bias_bars
from biasbench.report.sections.base import ReportData, Section, has
from biasbench.report.sections.models import failed_fits
from biasbench.report.sections.ranking_bias import ranking_bias_parts
from biasbench.report.tables import Col, table_html

CHANNEL = ["bandwidth", "center_frequency", "peak_noise_sensitivity"]


def _categories(data: ReportData) -> pd.Series | None:
    """Groups to colour by: the study's categories in context mode, else the user's models' groups (their
    categories or how they decide, ``ReportData.families``) when any model has one, else None."""
    if data.context is not None:
        return data.context.analysis.categories
    cats = data.families()
    return None if (cats == UNCATEGORISED).all() else cats


def _yours(data: ReportData) -> list[str]:
    return [] if data.placement is None else list(dict.fromkeys(data.placement.table["model"]))


def _human_shape_bias(data: ReportData) -> float | None:
    h = data.analysis.humans
    if h is not None and not h.summary.empty:
        row = h.summary[(h.summary["observer"] == "humans") & (h.summary["dataset"] == "cue-conflict")]
        if len(row) and "shape_bias" in row:
            return float(row["shape_bias"].iloc[0])
    per = h.per_category if h is not None else None
    if per is not None and not per.empty:
        return float(per.loc[(per["observer"] == "humans") & (per["category"] == "all"), "shape_bias"].iloc[0])
    return None


def shape_bias_section(data: ReportData) -> list[Section]:
    """Bars per model and the per-category plot against the humans."""
    a = data.analysis
    values = (data.context.analysis if data.context is not None else a).biases["shape_bias"]
    if values.dropna().empty and (data.yours is None or not len(data.placement.placed("shape_bias"))):
        return []
    human = _human_shape_bias(data)
    cats = _categories(data)
    section = Section(
        "shape-bias",
        "Shape bias",
        "Shape bias = shape decisions / (shape + texture decisions) on the cue-conflict images (Geirhos et al., "
        "ICLR 2019): 0 = always the texture's class, 1 = always the shape's; bars sorted, one colour per category.",
    )
    fig = shape_bias_bars(values, cats if cats is not None else a.categories, data.yours, human)
    section.figures.append(
        data.figs.add(
            fig,
            "shape_bias",
            "Shape bias per model"
            + ("; red dashed: the human observers of model-vs-human" if human is not None else ""),
        )
    )
    per_category = a.humans.per_category if a.humans is not None else None
    if per_category is not None and not per_category.empty:
        study = values if data.context is not None or per_category["observer"].eq("humans").all() else None
        fig = shape_bias_by_category(per_category, cats if cats is not None else a.categories, study, _yours(data))
        if fig is not None:
            caption = (
                "Shape bias per shape category (model-vs-human's plot), categories ordered by the humans; "
                "dots: per-category values, vertical lines: each observer's overall shape bias"
                + (
                    "; thin lines: the study's models (only their overall shape bias is released)"
                    if study is not None
                    else ""
                )
            )
            section.figures.append(data.figs.add(fig, "shape_bias_by_category", caption))
    tables, figs, notes = ranking_bias_parts(data)
    if tables:
        section.intro += (
            " Beside it, REFINED-BIAS's ranking-based shape bias (Kim et al., 2026): the mean reciprocal rank of the "
            "shape's and of the texture's category in the full 1000-class ranking, shape MRR / (shape + texture MRR)."
        )
    section.tables += tables
    section.figures += figs
    section.notes += notes
    return [section]


def spectral_section(data: ReportData) -> list[Section]:
    """The ratio-to-clean curves of the spectral probe (and the study's, with a context)."""
    records = data.analysis.records
    if data.context is not None:
        records = pd.concat([data.context.analysis.records, records], ignore_index=True)
    if not has(records, *SPECTRAL_CURVE):
        return []
    fig = spectral_figure(records, categories=_categories(data), yours=_yours(data))
    caption = (
        "Top-1 on low-pass (left) and high-pass (right) filtered images as a fraction of clean top-1, "
        "against the cut-off; the low-/high-frequency bias is the mean over cut-offs 10-50 %."
    )
    intro = (
        "How much of a model's accuracy survives when only low (left) or only high (right) spatial "
        "frequencies are kept (Gavrikov & Keuper, CVPR 2024): a curve that rises early means the model "
        "relies on low frequencies."
    )
    return [Section("spectral", "Spectral biases", intro, figures=[data.figs.add(fig, "spectral_curves", caption)])]


def critical_band_section(data: ReportData) -> list[Section]:
    """Thresholds and fitted channels of the user's models, the study's channels redrawn from their released
    parameters (reproduction, context), the human channel; failed fits said next to the model."""
    a = data.analysis
    records = a.records if has(a.records, *CRITICAL_BAND_CURVE[:2]) else None
    study = data.context.analysis if data.context is not None else (a if records is None else None)
    channels = study.biases[CHANNEL].dropna() if study is not None else None
    if records is None and (channels is None or channels.empty):
        return []
    channel_cats = study.categories if study is not None else None
    fig = noise_sensitivity_figure(records, channels=channels, categories=channel_cats, yours=_yours(data))
    caption = (
        "Noise sensitivity per octave band against its centre frequency: dots = threshold index (0 = even "
        "the strongest noise leaves half the accuracy, 4 = none but the noise-free images do), line = the "
        "fitted Gaussian channel"
        + (
            "; thin lines: the study's channels, redrawn from their released bandwidth, centre and peak"
            if channels is not None
            else ""
        )
        + "; red dashed: the human channel (Subramanian et al.)."
    )
    intro = (
        "The critical band (Subramanian et al., NeurIPS 2023; protocol of Gavrikov & Keuper): the spatial-"
        "frequency band where noise hurts most; bandwidth = its width in octaves, centre frequency in "
        "cycles/image, peak noise sensitivity its height. Humans: 1 octave at 39.6 cycles/image."
    )
    section = Section("critical-band", "Critical band", intro, figures=[data.figs.add(fig, "critical_band", caption)])
    failed = failed_fits(a)
    section.notes += [
        f"{m}: the channel fit failed ({why or 'degenerate'}); its bandwidth, centre frequency and "
        "peak are not reported."
        for m, why in failed.items()
    ]
    if records is not None:
        rows = a.biases[CHANNEL].reset_index()
        rows["fit"] = ["failed: " + failed[m] if m in failed else "ok" for m in rows["model"]]
        cols = [
            Col("model", "model", wrap=True),
            Col("bandwidth", "bandwidth [octaves]", 2),
            Col("center_frequency", "centre frequency [cycles/image]", 1),
            Col("peak_noise_sensitivity", "peak noise sensitivity [1/SD]", 2),
            Col("fit", "channel fit"),
        ]
        section.tables.append(table_html(rows, cols))
    return [section]
