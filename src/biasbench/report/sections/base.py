"""What every report section is made of, and what every section builder receives.

A builder is a function ``ReportData -> list[Section]``: it returns nothing when its numbers are absent, and
otherwise sections with a table-of-contents entry (``id``, ``title``), a one-sentence ``intro`` on what the
section measures and how to read its figure, ``tables`` (HTML from ``report.tables``), ``figures``
(``Figures.add``) and ``notes`` (what is missing or failed, said next to the numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from biasbench.analysis.context import Placement, StudyContext
from biasbench.analysis.model_kinds import CLASSIFIER, ModelKind, model_kinds
from biasbench.analysis.pipeline import Analysis
from biasbench.plots import figures
from biasbench.plots.palette import UNCATEGORISED, Style, category_styles, yours_styles

FIGURES_DIR = "figures"


@dataclass
class ReportFigure:
    """An embedded figure: its caption (how to read it), the PNG as base64, and its file stem."""

    caption: str
    png: str
    stem: str = ""


@dataclass
class Section:
    """One section of the report; ``html`` is pre-rendered content (the summary) shown before the tables."""

    id: str
    title: str
    intro: str = ""
    tables: list[str] = field(default_factory=list)
    figures: list[ReportFigure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    html: str = ""


class Figures:
    """Collects figures: saves each as PNG + SVG into ``out_dir`` and returns its embeddable form."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.paths: list[Path] = []

    def add(self, fig, stem: str, caption: str) -> ReportFigure:
        paths, png = figures.save(fig, self.out_dir, stem)
        self.paths += paths
        plt.close(fig)
        return ReportFigure(caption, png, stem)


@dataclass
class ReportData:
    """What the builders read: the user's ``analysis``, the figure sink and, with ``--context``, the released
    study and the placement of the user's models among its models."""

    analysis: Analysis
    figs: Figures
    context: StudyContext | None = None
    placement: Placement | None = None

    def zoos(self) -> list[tuple[str, str, Analysis]]:
        """(id prefix, title suffix, analysis) of each zoo whose across-model statistics the report shows: the
        user's models when they have any (always without a context), then the released study's."""
        out = []
        if self.context is None or not self.analysis.correlations.empty:
            out.append(("", "", self.analysis))
        if self.context is not None:
            out.append(("study-", f" — {self.context.title}", self.context.analysis))
        return out

    def models(self) -> list[str]:
        """The user's models: every model with a score or a bias."""
        return list(self.analysis.scores.index.union(self.analysis.biases.index))

    def kinds(self) -> dict[str, ModelKind]:
        """How each of the user's models decides (classifier, zero-shot head, imported answers), from the manifests."""
        return model_kinds(self.analysis.jobs.values())

    def families(self) -> pd.Series:
        """The group each of the user's models is drawn in: its category, else, where any model is a zero-shot
        CLIP model or imported answers, how it decides (so the legend names it), else uncategorised."""
        cats = self.analysis.categories.reindex(self.models()).fillna(UNCATEGORISED).astype(object)
        kinds = self.kinds()
        if any(k.family != CLASSIFIER for k in kinds.values()):
            loose = cats == UNCATEGORISED
            cats[loose] = [kinds[m].family if m in kinds else UNCATEGORISED for m in cats.index[loose]]
        return cats

    def styles(self) -> dict[str, Style]:
        """How each of the user's models is drawn where it appears alone (SI-SCORE, κ bars): the stars of
        ``yours_styles`` in context mode, else its group's colour and marker (``families``)."""
        if self.placement is not None:
            return yours_styles(dict.fromkeys(self.placement.table["model"]))
        cats = self.families()
        by_category = category_styles(cats)
        return {m: by_category[c] for m, c in cats.items()}

    @property
    def yours(self) -> pd.DataFrame | None:
        """The placement table (one row per user model and measurement), or None without a context."""
        return None if self.placement is None else self.placement.table


def has(records: pd.DataFrame, probe: str, metric: str) -> bool:
    """Whether ``records`` hold any ``metric`` record of ``probe``."""
    return bool(((records["probe"] == probe) & (records["metric"] == metric)).any())
