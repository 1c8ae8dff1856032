"""Self-contained HTML report of an ``Analysis``: the summary first, a table of contents, then one section per
measurement and statistic, each from a small builder (``report.sections``); figures embedded as base64 PNG
(also saved as PNG + SVG next to the report). No network, no external JS/CSS.

With a ``context`` (a released study, ``analysis.context.load_context``) the user's models are placed among
the study's models on every bias and score figure and in the ranked tables.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from biasbench.analysis.context import StudyContext, place
from biasbench.analysis.pipeline import Analysis
from biasbench.report.sections.base import FIGURES_DIR, Figures, ReportData, Section
from biasbench.report.sections.biases import critical_band_section, shape_bias_section, spectral_section
from biasbench.report.sections.correlations import bias_bias_sections, correlation_sections, scatter_sections
from biasbench.report.sections.effective_robustness import effective_robustness_section
from biasbench.report.sections.failure_factors import failure_factors_section
from biasbench.report.sections.joint import explain_sections, informativeness_sections
from biasbench.report.sections.models import models_section, placement_section
from biasbench.report.sections.more import (
    criticality_section,
    humans_section,
    resolution_section,
    si_score_section,
    transfer_section,
)
from biasbench.report.sections.statistics import notes_section, statistics_section
from biasbench.report.sections.summary import summary_section

__all__ = ["FIGURES_DIR", "SECTIONS", "Section", "write_report"]

# The report's sections in reading order; each builder returns [] when its numbers are absent.
SECTIONS: tuple[Callable[[ReportData], list[Section]], ...] = (
    summary_section,
    placement_section,
    models_section,
    shape_bias_section,
    spectral_section,
    critical_band_section,
    correlation_sections,
    scatter_sections,
    bias_bias_sections,
    explain_sections,
    informativeness_sections,
    effective_robustness_section,
    failure_factors_section,
    criticality_section,
    humans_section,
    transfer_section,
    resolution_section,
    si_score_section,
    notes_section,
    statistics_section,
)


def write_report(
    analysis: Analysis,
    out_html: str | Path,
    title: str = "biasbench report",
    *,
    context: StudyContext | None = None,
) -> Path:
    """Render ``analysis`` to one self-contained HTML file; figures also go to ``<dir>/figures/``. With
    ``context`` the user's models are placed among the released study's."""
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    figs = Figures(out_html.parent / FIGURES_DIR)
    placement = place(analysis, context) if context is not None else None
    data = ReportData(analysis, figs, context, placement)
    sections = [section for build in SECTIONS for section in build(data)]
    n_models = len(analysis.scores.index.union(analysis.biases.index))
    meta = f"{n_models} model{'s' * (n_models != 1)}, {len(analysis.records):,} records"
    if context is not None:
        meta += f"; placed among {context.models}"
    env = Environment(loader=PackageLoader("biasbench.report", "templates"), autoescape=select_autoescape())
    html = env.get_template("report.html.j2").render(title=title, meta=meta, sections=sections)
    out_html.write_text(html, encoding="utf-8")
    return out_html
