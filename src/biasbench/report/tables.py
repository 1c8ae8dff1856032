"""HTML tables of the report: no index, a header with units per column, a fixed precision per column, a sort
key on every cell (the template's inline script sorts a table by a click on a header), and a box that
scrolls sideways when the table is wider than the page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

import numpy as np
import pandas as pd

MISSING = "–"


@dataclass(frozen=True)
class Col:
    """One column: the frame's ``key``, its ``header`` (units in brackets), ``digits`` for numbers (None:
    text), a ``tip`` shown on hovering the header, ``wrap`` to let long text (model names at their
    underscores, reasons) wrap, and ``format`` for numbers that need their own text (p-values)."""

    key: str
    header: str
    digits: int | None = None
    tip: str = ""
    wrap: bool = False
    format: Callable[[float], str] | None = None


@dataclass(frozen=True)
class Cell:
    """A cell whose text is not its number: e.g. "fit failed" with the reason as its tooltip; ``sub`` is a
    second, smaller line (an interval under its value)."""

    text: str
    sort: float | str = ""
    tip: str = ""
    cls: str = ""
    sub: str = ""


def number(value: float, digits: int) -> str:
    """``value`` with ``digits`` decimals and a real minus sign."""
    return f"{value:,.{digits}f}".replace("-", "−")


def _cell(value, col: Col) -> str:
    if isinstance(value, Cell):
        attrs = f' data-v="{escape(str(value.sort))}"'
        attrs += f' title="{escape(value.tip)}"' if value.tip else ""
        attrs += f' class="{value.cls}"' if value.cls else ""
        sub = f'<br><span class="sub">{escape(value.sub)}</span>' if value.sub else ""
        return f"<td{attrs}>{escape(value.text)}{sub}</td>"
    if value is None or (isinstance(value, float) and not np.isfinite(value)) or value is pd.NA:
        return f'<td data-v="" class="missing">{MISSING}</td>'
    numeric = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)
    if numeric and (col.digits is not None or col.format is not None):
        text = col.format(float(value)) if col.format else number(float(value), col.digits)
        return f'<td data-v="{float(value)!r}" class="num">{escape(text)}</td>'
    text = escape(str(value))
    if col.wrap:
        return f'<td data-v="{text}" class="text wrap">{text.replace("_", "_<wbr>")}</td>'  # wrap at underscores
    return f'<td data-v="{text}" class="text">{text}</td>'


def _numeric(values: Sequence, col: Col) -> bool:
    """Whether a column sorts by number: it has digits, or every cell is a ``Cell`` with a numeric key."""
    if col.digits is not None or col.format is not None:
        return True
    cells = [v for v in values if v is not None and not (isinstance(v, float) and not np.isfinite(v))]
    cells = [v for v in cells if not (isinstance(v, Cell) and v.sort == "")]  # "n/c", "fit failed": no number
    return bool(cells) and all(isinstance(v, Cell) and isinstance(v.sort, int | float) for v in cells)


def table_html(
    frame: pd.DataFrame,
    columns: Sequence[Col],
    *,
    caption: str = "",
    sortable: bool = True,
    row_class: Callable[[pd.Series], str] | None = None,
) -> str:
    """``frame``'s ``columns`` as an HTML table (rows in the frame's order; the index is never shown) inside a
    sideways-scrolling box; ``row_class`` gives a CSS class per row (e.g. the user's models)."""
    head = "".join(
        f"<th{f' title={chr(34)}{escape(c.tip)}{chr(34)}' if c.tip else ''}"
        f' data-type="{"num" if _numeric(list(frame.get(c.key, [])), c) else "text"}">{escape(c.header)}</th>'
        for c in columns
    )
    body = []
    for _, row in frame.iterrows():
        cls = row_class(row) if row_class else ""
        cells = "".join(_cell(row.get(c.key), c) for c in columns)
        body.append(f"<tr{f' class={chr(34)}{cls}{chr(34)}' if cls else ''}>{cells}</tr>")
    kind = "data sortable" if sortable else "data"
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    return (
        f'<div class="table-wrap"><table class="{kind}">{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def ranked(frame: pd.DataFrame, by: Sequence[str], ascending: bool = False) -> pd.DataFrame:
    """``frame`` sorted by the first of ``by`` that has any value (missing values last), with a ``rank``
    column 1..n in that order."""
    key = next((c for c in by if c in frame.columns and frame[c].notna().any()), None)
    out = frame.sort_values(key, ascending=ascending, na_position="last", kind="stable") if key else frame
    return out.assign(rank=np.arange(1, len(out) + 1))
