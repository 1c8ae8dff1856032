"""The bias sections, keyed by the probes' declarations: every bias a registered probe declares gets a section
in report order: the bespoke one its declaration names (shape bias, spectral, critical band), else the generic
one: bars per model, sorted, with the declared title, unit and direction, and a table of the values."""

from __future__ import annotations

from collections.abc import Callable

from biasbench.analysis.specs import CRITICAL_BAND_CURVE, SHAPE_BIAS, SPECTRAL_CURVE, biases
from biasbench.plots.placement import bias_bars
from biasbench.report.sections.base import ReportData, Section
from biasbench.report.sections.biases import critical_band_section, shape_bias_section, spectral_section
from biasbench.report.tables import Col, table_html
from biasbench.store.metrics import Metric

# The bespoke sections, by the section id their declarations name.
BESPOKE: dict[str, Callable[[ReportData], list[Section]]] = {
    SHAPE_BIAS.section: shape_bias_section,
    SPECTRAL_CURVE.section: spectral_section,
    CRITICAL_BAND_CURVE.section: critical_band_section,
}


def section_id(bias: Metric) -> str:
    """The table-of-contents id of a bias's section: its declared ``section``, else its name in kebab case."""
    return bias.section or bias.name.replace("_", "-")


def generic_bias_section(data: ReportData, bias: Metric) -> list[Section]:
    """Bars per model (sorted, one colour per category) and the values, for a bias without a bespoke section."""
    a = data.analysis
    values = a.biases[bias.name].dropna() if bias.name in a.biases else None
    if values is None or values.empty:
        return []
    intro = (
        f"{bias.title} per model [{bias.unit}], from the {bias.probe} probe's {bias.metric!r} records; "
        f"higher = {bias.direction}. Bars sorted, one colour per category."
    )
    fig = bias_bars(values, a.categories, bias.name)
    rows = values.sort_values(ascending=False).rename("value").reset_index()
    table = table_html(
        rows, [Col("model", "model", wrap=True), Col("value", f"{bias.title} [{bias.unit}]", bias.digits)]
    )
    figure = data.figs.add(fig, bias.name, f"{bias.title} per model")
    return [Section(section_id(bias), bias.title, intro, [table], [figure])]


def bias_sections(data: ReportData) -> list[Section]:
    """One section per declared bias in report order; biases that share a bespoke section get it once."""
    sections: list[Section] = []
    seen: set[str] = set()
    for bias in biases():
        key = section_id(bias)
        if key in seen:
            continue
        seen.add(key)
        build = BESPOKE.get(bias.section)
        sections += build(data) if build is not None else generic_bias_section(data, bias)
    return sections
