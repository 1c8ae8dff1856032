"""The vocabulary of the report's generated sentences: names of scores and biases in running text, number
and p-value formats, one finding, and the family of correlation tests a correction runs over."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from biasbench.analysis.correlation import family_cells
from biasbench.analysis.explain import TOP1
from biasbench.analysis.pipeline import Analysis
from biasbench.analysis.specs import BIASES, SCORES

NOUN = {b.name: b.noun or b.title for b in BIASES} | {s.name: s.title for s in SCORES} | {TOP1: "ImageNet top-1"}
UNIT = {s.name: "%" for s in SCORES} | {TOP1: "%"}
CORRECTIONS = {"holm": ("p_holm", "Holm-adjusted"), "bh": ("p_bh", "Benjamini–Hochberg-adjusted")}


@dataclass(frozen=True)
class Finding:
    """One sentence of the summary: a short lead (a score, a model) and the text."""

    lead: str
    text: str


def fmt(value: float, digits: int = 2) -> str:
    """A number for running text: fixed digits, a real minus sign, "n/a" for NaN."""
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.{digits}f}".replace("-", "−")


def fmt_p(p: float) -> str:
    """A p-value for running text: 3 significant figures, "< 0.001" below 0.001."""
    if p is None or not np.isfinite(p):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3g}"


def p_is(p: float, name: str = "p") -> str:
    """``p = 0.0126`` or ``p < 0.001`` (``name`` for adjusted ones)."""
    text = fmt_p(p)
    return f"{name} {text}" if text.startswith("<") else f"{name} = {text}"


def family(analysis: Analysis, subset: str = "total", method: str = "spearman", control: str = "none") -> pd.DataFrame:
    """The correlation cells of one (subset, method, control) family: the unit of the correction."""
    c = analysis.correlations
    return c if c.empty else family_cells(c, subset, method, control)


def significant(cells: pd.DataFrame, correction: str = "holm", alpha: float = 0.05) -> pd.Series:
    """Whether each cell is significant after ``correction`` (adjusted p < ``alpha``)."""
    return cells[CORRECTIONS[correction][0]] < alpha


def cell_text(row: pd.Series) -> str:
    return f"{NOUN.get(row['bias'], row['bias'])} (ρ = {fmt(row['rho'])} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}])"


def r2_of(summary: pd.DataFrame, target: str, features: str, regressor: str, scheme: str, column: str = "r2") -> float:
    row = summary[
        (summary["target"] == target)
        & (summary["features"] == features)
        & (summary["regressor"] == regressor)
        & (summary["scheme"] == scheme)
    ]
    return float(row[column].iloc[0]) if len(row) else float("nan")


def join_words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
