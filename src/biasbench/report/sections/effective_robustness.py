"""The effective-robustness section (Taori et al., NeurIPS 2020): the ID-vs-OOD scatter per OOD set with the
reference line and its band, the lines, each model's ER ranked, and the bias-ER correlations beside the partial
correlations given ImageNet top-1; with a context, the user's models placed against the study's lines where
their measurements compare. ``write_effective_robustness`` writes the same tables as CSVs and the figures as
PNG + SVG (``reproduce gavrikov2024``, ``biasbench effective-robustness``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from biasbench.analysis.effective_robustness import EffectiveRobustness
from biasbench.analysis.line_fit import MAX_SLOPE_CI_WIDTH
from biasbench.analysis.sentences import NOUN, fmt, fmt_p
from biasbench.plots import figures
from biasbench.plots.effective_robustness import bias_er_panels, line_scatter
from biasbench.report.sections.base import ReportData, Section
from biasbench.report.sections.correlations import CORRECTION, READ_HEATMAP
from biasbench.report.tables import Cell, Col, ranked, table_html

INTRO = (
    "Effective robustness (ER; Taori et al., NeurIPS 2020): a model's top-1 on an OOD set minus what the line "
    "through the reference models predicts at its ImageNet top-1 (fitted on logit axes), in percentage points "
    "(pp); ER > 0: more robust than its accuracy predicts. Reference: {reference}. How to read ER and its limits: "
    "README, “Effective robustness”."
)
UNSTABLE = (
    f"unstable line (†): the reference models' 95 % bootstrap CI of the slope is wider than {MAX_SLOPE_CI_WIDTH:g}, "
    "so they do not determine the line; ER away from their ImageNet range (shaded) is extrapolation"
)
YOURS = "yours"
EXTRAPOLATED = "extrapolated: ImageNet top-1 outside the reference models' range"
ER_DIGITS = 1
COLLAPSE_ROWS = 16  # longer tables fold into a <details>


def _interval(value: float, low: float, high: float, sign: bool = True) -> str:
    text = f"{value:+.{ER_DIGITS}f}" if sign else f"{value:.2f}"
    if np.isfinite(low):
        text += f" [{low:.{ER_DIGITS if sign else 2}f}, {high:.{ER_DIGITS if sign else 2}f}]"
    return text.replace("-", "−")


def _folded(html: str, rows: int, what: str) -> str:
    return html if rows <= COLLAPSE_ROWS else f"<details><summary>{what} ({rows} rows)</summary>{html}</details>"


def _set_header(result: EffectiveRobustness, name: str) -> str:
    return f"{result.title(name)}{' †' if name in result.unstable else ''} ER [pp]"


def _lines_table(result: EffectiveRobustness) -> str:
    fits = result.fits.copy()
    fits["set"] = [r.title + (" †" if r.ood in result.unstable else "") for r in fits.itertuples()]
    fits["slope_text"] = [
        Cell(_interval(r.slope, r.slope_low, r.slope_high, False), r.slope) for r in fits.itertuples()
    ]
    fits["intercept_text"] = [
        Cell(_interval(r.intercept, r.intercept_low, r.intercept_high, False), r.intercept) for r in fits.itertuples()
    ]
    fits["range"] = [Cell(f"{r.id_low:.1f} – {r.id_high:.1f}", r.id_high - r.id_low) for r in fits.itertuples()]
    fits["stable_text"] = fits["stable"].map({True: "yes", False: "no"})
    cols = [
        Col("set", "OOD set"),
        Col("slope_text", "slope [95 % CI]", tip="logit(OOD top-1) = slope · logit(ImageNet top-1) + intercept"),
        Col("intercept_text", "intercept [95 % CI]"),
        Col("n_reference", "reference models", 0),
        Col("range", "their ImageNet top-1 [%]"),
        Col("stable_text", "stable line", tip=f"slope CI at most {MAX_SLOPE_CI_WIDTH:g} wide"),
        Col("rho_er_id", "ρ(ER, ImageNet top-1)", 2, tip="Spearman over all models; ≠ 0: ER still holds accuracy"),
    ]
    return table_html(fits, cols, caption=f"The lines ({result.transform} axes).", sortable=False)


def _er_cell(row: pd.Series, mark: str = "", tip: str = "", italic: bool = False) -> Cell:
    """ER with its interval on a second line; italic where extrapolated (or approximate: ``mark`` "≈")."""
    value, low, high = row["effective_robustness"], row["er_low"], row["er_high"]
    sub = f"[{fmt(low, ER_DIGITS)}, {fmt(high, ER_DIGITS)}]" if np.isfinite(low) else ""
    italic = italic or bool(row["extrapolated"])
    tip = "; ".join(t for t in (tip, EXTRAPOLATED if row["extrapolated"] else "") if t)
    return Cell(mark + f"{value:+.{ER_DIGITS}f}".replace("-", "−"), value, tip, "er approx" if italic else "er", sub)


def _your_er_cell(row: pd.Series) -> Cell:
    if row["status"] == "not comparable":
        return Cell("n/c", "", f"not comparable: {row['reason']}", "nc")
    approximate = row["status"] == "approximate"
    return _er_cell(row, "≈" if approximate else "", row["reason"] or "same protocol as the study", approximate)


def _per_model_table(result: EffectiveRobustness, yours: pd.DataFrame | None) -> str:
    """Models (rows) x OOD sets (ER with its interval), ranked by ER on the first set with a stable line."""
    names = list(result.lines)
    pm = result.per_model
    table = pd.DataFrame(index=list(dict.fromkeys(pm["model"])))
    for name in names:
        part = pm[pm["ood"] == name].set_index("model")
        table[name] = pd.Series({m: _er_cell(r) for m, r in part.iterrows()}, dtype=object)
    table["imagenet_top1"] = result.accuracies["imagenet_top1"].reindex(table.index)
    cats = result.categories if result.categories is not None else pd.Series(dtype=object)
    table["category"] = cats.reindex(table.index).fillna("").astype(str).str.replace("_", " ")
    table["line"] = np.where(table.index.isin(result.reference), "reference", "")
    placed = yours[yours["status"] != "not comparable"] if yours is not None else None
    if placed is not None and len(placed):  # your models with a value on at least one line
        shown = yours[yours["model"].isin(placed["model"])]
        mine = pd.DataFrame(index=list(dict.fromkeys(shown["model"])))
        for name in names:
            part = shown[shown["ood"] == name].set_index("model")
            mine[name] = pd.Series({m: _your_er_cell(r) for m, r in part.iterrows()}, dtype=object)
        mine["imagenet_top1"] = placed.groupby("model")["id_accuracy"].first()
        mine["category"], mine["line"] = YOURS, ""
        table = pd.concat([table, mine])
    by = next((n for n in names if n not in result.unstable), names[0])
    key = table[by].map(lambda c: float(c.sort) if isinstance(c, Cell) and c.sort != "" else np.nan)
    table = ranked(table.assign(_key=key).rename_axis("model").reset_index(), ["_key"])
    cols = [
        Col("rank", "#", 0),
        Col("model", "model", wrap=True),
        Col("category", "category"),
        Col("line", "role"),
        Col("imagenet_top1", "ImageNet top-1 [%]", 1),
        *(Col(n, _set_header(result, n), tip=UNSTABLE if n in result.unstable else "") for n in names),
    ]
    why = "the first set with a stable line" if by not in result.unstable else "no line is stable"
    caption = (
        f"Ranked by ER on {result.title(by)} ({why}); brackets: 95 % interval over the bootstrap lines; italic: "
        "extrapolated (ImageNet top-1 outside the reference range); click a header to sort."
    )
    return table_html(table, cols, caption=caption, row_class=lambda r: "yours" if r["category"] == YOURS else "")


def _correlations_table(result: EffectiveRobustness) -> tuple[str, int]:
    table = result.side_by_side()
    table = table[table["ood"].isin(result.lines)].dropna(subset=["rho_er"])
    table = table.assign(
        bias_name=table["bias"].map(lambda b: NOUN.get(b, b)),
        set=[result.title(o) + (" †" if o in result.unstable else "") for o in table["ood"]],
        er_text=[Cell(_interval(r.rho_er, r.ci_low_er, r.ci_high_er, False), r.rho_er) for r in table.itertuples()],
        partial_text=[
            Cell(_interval(r.rho_partial, r.ci_low_partial, r.ci_high_partial, False), r.rho_partial)
            for r in table.itertuples()
        ],
    ).sort_values("rho_er", key=abs, ascending=False)
    cols = [
        Col("bias_name", "bias"),
        Col("set", "OOD set"),
        Col("er_text", "ρ(bias, ER) [95 % CI]"),
        Col("p_holm_er", "p (Holm)", format=fmt_p),
        Col("partial_text", "partial ρ(bias, OOD top-1 | ImageNet top-1) [95 % CI]"),
        Col("p_holm_partial", "p (Holm), partial", format=fmt_p),
        Col("n_er", "models", 0),
    ]
    caption = "Spearman ρ across all models, ranked by |ρ(bias, ER)|; Holm within each column's family."
    return table_html(table, cols, caption=caption), len(table)


def _placement_tables(yours: pd.DataFrame) -> list[str]:
    """Your placed values against the study's lines, then (folded) every (model, set) that is not comparable."""
    comparable = yours["status"] != "not comparable"
    out = [_placement_table(yours[comparable], "Your models against the study's lines.")] if comparable.any() else []
    if (~comparable).any():
        html = _placement_table(yours[~comparable], "Not comparable: not drawn, not ranked.")
        out.append(f"<details><summary>Not comparable with the study's lines ({int((~comparable).sum())} model × "
                   f"set pairs, with the reason)</summary>{html}</details>")  # fmt: skip
    return out


def _placement_table(yours: pd.DataFrame, caption: str) -> str:
    rows = yours.copy()
    rows["er"] = [_your_er_cell(r) if r["status"] != "not comparable" else None for _, r in rows.iterrows()]
    rows["rank_text"] = [
        Cell(f"{int(r['rank'])} of {int(r['of'])}", r["rank"]) if np.isfinite(r["rank"]) else None
        for _, r in rows.iterrows()
    ]
    rows["reason"] = [r or "—" for r in rows["reason"]]
    cols = [
        Col("model", "model", wrap=True),
        Col("title", "OOD set"),
        Col("status", "comparable?"),
        Col("id_accuracy", "ImageNet top-1 [%]", 1),
        Col("ood_accuracy", "OOD top-1 [%]", 1),
        Col("predicted", "the study's line predicts [%]", 1),
        Col("er", "ER [pp]"),
        Col("rank_text", "rank (of study + 1)"),
        Col("reason", "what differs from the study", wrap=True),
    ]
    return table_html(rows, cols, caption=caption, row_class=lambda r: r["status"].replace(" ", "-"))


def _section(data: ReportData, result: EffectiveRobustness, prefix: str, suffix: str, yours) -> Section:
    section = Section(
        f"{prefix}effective-robustness",
        "Effective robustness" + suffix,
        INTRO.format(reference=result.reference_words()),
    )
    placed = yours is not None and len(yours) and (yours["status"] != "not comparable").any()
    caption = (
        "ImageNet top-1 (x) against top-1 on each OOD set (y), logit axes with accuracy ticks: one dot per model in "
        "its category's colour and marker, reference models ringed in black, the red line through them with its "
        "95 % bootstrap band, y = x dashed"
        + ("; stars: your models where both accuracies compare with the study's (≈: approximate)" if placed else "")
        + (f"; {UNSTABLE}" if result.unstable else "")
        + "."
    )
    section.figures.append(data.figs.add(line_scatter(result, yours), f"{prefix}effective_robustness_lines", caption))
    section.tables.append(_lines_table(result))
    section.tables.append(_per_model_table(result, yours))
    if yours is not None and len(yours):
        section.tables += _placement_tables(yours)
    fig = bias_er_panels(result, correction=CORRECTION)
    if fig is not None:
        caption = (
            "Spearman ρ of each bias with ER (left) beside the study's way of controlling for accuracy, the partial "
            "ρ with the OOD top-1 given ImageNet top-1 (right). " + READ_HEATMAP
        )
        section.figures.append(data.figs.add(fig, f"{prefix}bias_vs_effective_robustness", caption))
        html, n = _correlations_table(result)
        section.tables.append(_folded(html, n, "Bias–ER correlations beside the partial correlations"))
    section.notes += _notes(result, set(data.analysis.notes))
    return section


def _notes(result: EffectiveRobustness, shown: set[str]) -> list[str]:
    """The analysis' warnings in two lines (the lines table has the numbers per set): the unstable lines and
    the sets where ER still correlates with ImageNet top-1; then its other notes not said elsewhere."""
    fits = result.fits.set_index("ood")
    out = []
    if result.unstable:
        part = fits.loc[result.unstable]
        out.append(
            f"Unstable lines (†) on {', '.join(part['title'])}: the {int(part['n_reference'].max())} reference models "
            f"span ImageNet top-1 {part['id_low'].min():.1f}–{part['id_high'].max():.1f} %, and the slopes' 95 % "
            f"bootstrap CIs are {part['slope_ci_width'].min():.1f} to {part['slope_ci_width'].max():.1f} wide "
            f"(> {MAX_SLOPE_CI_WIDTH:g}): ER of a model away from that range is extrapolation."
        )
    left = fits[fits["p_er_id"] < 0.05]
    if len(left):
        out.append(
            f"ER still correlates with ImageNet top-1 on {', '.join(left['title'])} (Spearman ρ "
            f"{fmt(left['rho_er_id'].min())} to {fmt(left['rho_er_id'].max())}, p < 0.05): there a bias that goes "
            "with accuracy goes with ER too; compare the partial correlations."
        )
    said = ("the line is not determined", "still correlates with ImageNet top-1")
    return out + [n for n in result.notes if n not in shown and not any(s in n for s in said)]


def effective_robustness_section(data: ReportData) -> list[Section]:
    """The user's effective robustness where the records give a line; with a context, the study's, with the
    user's models placed against its lines."""
    out = []
    if data.analysis.effective_robustness is not None:
        out.append(_section(data, data.analysis.effective_robustness, "", "", None))
    study = data.context.analysis.effective_robustness if data.context is not None else None
    if study is not None:
        yours = data.placement.effective_robustness if data.placement is not None else None
        out.append(_section(data, study, "study-", f" — {data.context.title}", yours))
    return out


def effective_robustness_tables(result: EffectiveRobustness) -> dict[str, pd.DataFrame]:
    """CSV stem -> table: per-model ER, the lines, the tidy correlations and ER beside the partial ones."""
    return {
        "effective_robustness": result.per_model,
        "effective_robustness_lines": result.fits,
        "effective_robustness_correlations": result.correlations,
        "effective_robustness_vs_partial": result.side_by_side(),
    }


def write_effective_robustness(
    result: EffectiveRobustness, out: str | os.PathLike[str], figures_dir: str = "figures"
) -> list[Path]:
    """Write the tables as ``out/<stem>.csv`` and the figures as ``out/<figures_dir>/<stem>.{png,svg}``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, table in effective_robustness_tables(result).items():
        if not table.empty:
            table.to_csv(out / f"{stem}.csv", index=False)
            written.append(out / f"{stem}.csv")
    for stem, fig in (
        ("effective_robustness_lines", line_scatter(result)),
        ("bias_vs_effective_robustness", bias_er_panels(result, correction=CORRECTION)),
    ):
        if fig is not None:
            written += figures.save(fig, out / figures_dir, stem)[0]
    return written
