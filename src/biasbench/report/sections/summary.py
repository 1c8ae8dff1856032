"""The summary at the top of the report: the findings of ``analysis.findings`` as HTML, the design limits
first; in context mode, where the user's models fall among the study's models, then the study's findings."""

from __future__ import annotations

from html import escape

from biasbench.analysis.findings import Findings, findings, placement_findings
from biasbench.analysis.sentences import Finding
from biasbench.report.sections.base import ReportData, Section


def _items(items: list[Finding], cls: str = "") -> str:
    if not items:
        return ""
    lis = "".join(f"<li><b>{escape(f.lead)}</b>: {escape(f.text)}</li>" for f in items)
    return f'<ul class="findings {cls}">{lis}</ul>'


def _study(f: Findings, heading: str, standouts: bool) -> str:
    parts = [f"<h3>{escape(heading)}</h3>"] if heading else []
    if f.correction:
        parts.append(f'<p class="meta">{escape(f.correction)}</p>')
    parts += [_items(f.correlations), _items(f.joint), _items(f.effective), _items(f.caveats, "caveats")]
    if standouts and f.models:
        parts.append(
            f"<details><summary>Standout models ({len(f.models)}): the highest or lowest value of a "
            f"measurement</summary>{_items(f.models)}</details>"
        )
    return "".join(parts)


def summary_section(data: ReportData) -> list[Section]:
    """Findings first: what this study cannot show, then per score the correlating biases, the joint
    prediction and its reading, the design caveats and the standout models (or, with a context, each model's
    place among the study's models and the study's own findings)."""
    own = findings(data.analysis)
    limits = _items(own.design, "design")
    html = f'<div class="limits"><p><b>What these results cannot show</b></p>{limits}</div>' if limits else ""
    if data.context is None:
        html += _study(own, "", standouts=True)
        intro = "What the statistics say, written from them: read this first, then the sections it points to."
    else:
        n = len(data.placement.table["model"].unique())
        html += f"<h3>Your {n} model{'s' * (n != 1)} among {escape(data.context.models)}</h3>" + _items(
            placement_findings(data.placement)
        )
        if not data.analysis.correlations.empty:
            html += _study(own, "Across your models", standouts=True)
        study = findings(data.context.analysis)
        html += _study(study, f"In the study ({data.context.title})", standouts=False)
        intro = (
            "Where your models fall among the released study's models (ranks count from the highest value), "
            "then what the study's statistics say."
        )
    return [Section("summary", "Summary", intro, html=html)]
