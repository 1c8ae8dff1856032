"""One colour and one marker per model category, the same in every figure, and the legend that names them.

The study's categories (Gavrikov & Keuper, CVPR 2024) keep the colours of its plots (tab10 in its order, the
baseline black); other categories take the remaining tab10 colours in name order, all but grey, which is the
uncategorised models'. The user's models placed
among a released study (``--context``) are large black-edged stars, each model in a colour of its own
(``yours_styles``), and named in the legend.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

STUDY_CATEGORIES = (
    "stylized",
    "adversarial_training",
    "training_recipes",
    "freezing",
    "augmentation",
    "contrastive",
)
BASELINE = "baseline"
UNCATEGORISED = "uncategorised"
YOURS = "yours"
TAB10 = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
_GREY = "#7f7f7f"
_MARKERS = ("s", "o", "^", "v", "D", "P", "h", "<", ">", "p")
YOURS_COLOR = "#000000"  # the edge of every star of the user's models
YOURS_FACE = "#ffd700"  # gold: the user's models as a group (legends)
YOURS_MARKER = "*"
# One face colour per user model, so two of them can be told apart; the star and black edge say "yours".
YOURS_FACES = ("#ffd700", "#00b4ff", "#ff3fa4", "#7ee000", "#ff8c1a", "#a66bff", "#00e0c0", "#ff5050")


@dataclass(frozen=True)
class Style:
    """How one category (or the user's models) is drawn."""

    color: str
    marker: str
    label: str
    edge: str = "white"


def _label(category: str) -> str:
    return category.replace("_", " ")


def category_styles(categories: Iterable[str]) -> dict[str, Style]:
    """Style per category: the study's six in their tab10 order, further categories after them in name
    order, the baseline a black circle, uncategorised models grey dots."""
    names = set(categories)
    extra = sorted(names - set(STUDY_CATEGORIES) - {BASELINE, UNCATEGORISED, YOURS})
    colours = [c for c in TAB10 if c != _GREY]  # grey is the uncategorised models'
    styles = {
        name: Style(colours[i % len(colours)], _MARKERS[i % len(_MARKERS)], _label(name))
        for i, name in enumerate((*STUDY_CATEGORIES, *extra))
    }
    styles[BASELINE] = Style("#000000", "o", BASELINE)
    styles[UNCATEGORISED] = Style("#999999", ".", UNCATEGORISED)
    styles[YOURS] = Style(YOURS_FACE, YOURS_MARKER, "your models", YOURS_COLOR)
    return styles


def yours_styles(models: Iterable[str]) -> dict[str, Style]:
    """Star style per user model, in the given order: black edge, a face colour of its own."""
    return {
        m: Style(YOURS_FACES[i % len(YOURS_FACES)], YOURS_MARKER, f"{m} (yours)", YOURS_COLOR)
        for i, m in enumerate(dict.fromkeys(models))
    }


def yours_handles(models: Iterable[str], line: bool = False) -> list[Line2D]:
    """Legend entries of the user's models, one per model."""
    return [
        Line2D(
            [],
            [],
            ls="-" if line else "",
            lw=2.2,
            color=s.color,
            marker=s.marker,
            markerfacecolor=s.color,
            markeredgecolor=s.edge,
            markersize=12,
            label=s.label,
        )  # fmt: skip
        for s in yours_styles(models).values()
    ]


def category_colors(categories: pd.Series | Iterable[str]) -> dict[str, str]:
    """Colour (hex) per category, as ``category_styles``."""
    return {name: to_hex(s.color) for name, s in category_styles(categories).items()}


def legend_handles(categories: Iterable[str], *, yours: bool = False, line: bool = False) -> list[Line2D]:
    """One handle per category present (in the palette's order), plus the user's star when ``yours``."""
    present = list(dict.fromkeys(categories))
    styles = category_styles(present)
    order = [name for name in styles if name in present and name != YOURS] + ([YOURS] if yours else [])
    handles = []
    for name in order:
        s = styles[name]
        size = 12 if name == YOURS else 7
        handles.append(
            Line2D(
                [],
                [],
                ls="-" if line and name != YOURS else "",
                marker=s.marker,
                color=s.color,
                label=s.label,
                markerfacecolor=s.color,
                markeredgecolor=s.edge,
                markersize=size,
            )
        )
    return handles


def legend_right(fig: Figure, handles: list, title: str | None = None) -> None:
    """The legend outside the axes, to the right of the figure (never over the data)."""
    if handles:
        fig.legend(
            handles=handles,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            frameon=False,
            fontsize=8,
            title=title,
            title_fontsize=8,
        )


def legend_below(fig: Figure, handles: list, ncol: int = 8) -> None:
    """The legend outside the axes, centred below the figure (for wide rows of panels)."""
    if handles:
        fig.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=min(ncol, len(handles)),
            frameon=False,
            fontsize=8,
        )
