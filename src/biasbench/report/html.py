"""Self-contained HTML report of an ``Analysis``: tables, figures embedded as base64 PNG (also saved as
PNG + SVG next to the report), and notes on what is missing. No network, no external JS/CSS."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from biasbench.analysis.correlation import wide
from biasbench.analysis.criticality import imagenet_top1
from biasbench.analysis.pipeline import Analysis
from biasbench.analysis.specs import CRITICAL_BAND_CURVE, SPECTRAL_CURVE
from biasbench.plots import figures
from biasbench.plots.criticality import criticality_heatmap, criticality_vs_accuracy
from biasbench.plots.frequency import noise_sensitivity_figure, spectral_figure
from biasbench.plots.si_score import si_score_figure

FIGURES_DIR = "figures"


@dataclass
class Figure:
    caption: str
    png: str


@dataclass
class Section:
    id: str
    title: str
    text: str = ""
    tables: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)


class _Figures:
    """Collects figures: saves each as PNG + SVG into ``out_dir`` and returns its embeddable form."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.paths: list[Path] = []

    def add(self, fig, stem: str, caption: str) -> Figure:
        paths, png = figures.save(fig, self.out_dir, stem)
        self.paths += paths
        embedded = Figure(caption, png)
        plt.close(fig)
        return embedded


def _has(records: pd.DataFrame, probe: str, metric: str) -> bool:
    return bool(((records["probe"] == probe) & (records["metric"] == metric)).any())


def _html(frame: pd.DataFrame, digits: int = 3) -> str:
    return frame.to_html(classes="data", float_format=lambda v: f"{v:.{digits}f}", na_rep="–", border=0)


def _model_section(a: Analysis) -> Section:
    table = a.scores.join(a.biases).join(a.categories).dropna(axis=1, how="all")
    cols = ["category", *[c for c in table.columns if c != "category"]]
    return Section("models", "Models", "Scores in percent; biases in their own units.", [_html(table[cols])])


def _bias_sections(a: Analysis, figs: _Figures) -> list[Section]:
    out = []
    if a.biases["shape_bias"].notna().any():
        fig = figures.shape_bias_bars(a.biases, a.categories)
        out.append(Section("shape-bias", "Shape bias", figures=[figs.add(fig, "shape_bias", "Shape bias per model")]))
    if _has(a.records, *SPECTRAL_CURVE):
        caption = "Top-1 as a fraction of clean top-1 against the filter cut-off (LPP/HPP = mean over 10-50 %)"
        fig = spectral_figure(a.records)
        out.append(Section("spectral", "Spectral biases", figures=[figs.add(fig, "spectral_curves", caption)]))
    if _has(a.records, *CRITICAL_BAND_CURVE[:2]):
        caption = "Noise threshold per octave band (dots) and the fitted Gaussian channel; human observers dashed"
        fig = noise_sensitivity_figure(a.records)
        out.append(Section("critical-band", "Critical band", figures=[figs.add(fig, "critical_band", caption)]))
    return out


def _correlation_sections(a: Analysis, figs: _Figures) -> list[Section]:
    if a.correlations.empty:
        return []
    sections = []
    subsets = [s for s in ("total", "at", "other") if s in set(a.correlations["subset"])]
    main = Section("correlations", "Bias vs generalization (Spearman)")
    # Masked tables (the study's display rule) per subset, plus the raw Total table; all values are in the CSV.
    for subset, masked in [(s, True) for s in subsets] + [("total", False)]:
        fig = figures.correlation_heatmap(a.correlations, subset, masked=masked)
        kind = "masked" if masked else "raw"
        caption = f"Spearman rho, subset {subset} ({kind}); brackets: 95% bootstrap CI"
        main.figures.append(figs.add(fig, f"correlation_{subset}_{kind}", caption))
    if "imagenet_top1" in set(a.correlations["control"]):
        fig = figures.correlation_heatmap(a.correlations, "total", control="imagenet_top1", masked=False)
        main.figures.append(figs.add(fig, "correlation_total_partial", "Partial Spearman given ImageNet top-1"))
    main.tables.append(_html(wide(a.correlations, "total", value="rho_masked"), 2))
    sections.append(main)
    if not a.stability.empty:
        stable = a.stability[a.stability["method"] == "spearman"]
        sections.append(Section("stability", "Leave-one-category-out stability (Spearman)", tables=[_html(stable)]))
    scatter = Section("scatter", "Scatter plots (one row per bias)")
    for bias in a.biases.columns[a.biases.notna().sum() >= 3]:
        fig = figures.scatter_row(bias, a.biases, a.scores, a.categories)
        scatter.figures.append(figs.add(fig, f"scatter_{bias}", f"{bias} against the four generalization scores"))
    sections.append(scatter)
    return sections


def _bias_bias_section(a: Analysis, figs: _Figures) -> list[Section]:
    if a.bias_bias.empty:
        return []
    fig = figures.correlation_heatmap(a.bias_bias, "total", masked=False)
    return [Section("bias-bias", "Bias-bias correlations", figures=[figs.add(fig, "bias_bias", "Spearman rho")])]


def _criticality_section(a: Analysis, figs: _Figures) -> list[Section]:
    c = a.criticality
    if c is None:
        return []
    section = Section("criticality", "Layer criticality", "Criticality = (1 - mean cosine similarity) x 100.")
    section.figures.append(figs.add(criticality_heatmap(c.matrix, c.categories), "criticality", "Heat-map"))
    top1 = imagenet_top1(a.records)
    if top1.notna().any():
        fig = criticality_vs_accuracy(c.model_mean, top1)
        section.figures.append(figs.add(fig, "criticality_vs_accuracy", "Average criticality vs ImageNet top-1"))
    section.tables += [_html(c.per_category, 1), _html(c.accuracy_correlation)]
    return [section]


EXPLAIN_TEXT = (
    "Each score predicted across models from all biases jointly, from ImageNet top-1 alone and from both. "
    "Out-of-sample R² = 1 - Σ(y - ŷ)² / Σ(y - ȳ)², ŷ from a fit that never saw the model (LOMO) or its "
    "category (LOCO), ȳ the mean over all models; p = (1 + #{permuted R² ≥ R²}) / (1 + B) with the score "
    "shuffled across models; ΔR² = R²(top1+biases) - R²(top1). Regressors: OLS on standardised biases, ridge "
    "(penalty by leave-one-out inside each training fold), OLS on ranks. Cells: R² (p)."
)


def _explain_sections(a: Analysis, figs: _Figures) -> list[Section]:
    e = a.explained
    if e is None or e.summary.empty:
        return []
    from biasbench.analysis.explain import r2_table
    from biasbench.plots.figures import predicted_vs_true

    section = Section("explain", "Do the biases explain generalization jointly?", EXPLAIN_TEXT)
    for scheme in ("lomo", "loco"):
        if scheme in set(e.summary["scheme"]):
            section.tables.append(f"<p>{scheme.upper()}</p>" + r2_table(e.summary, scheme).to_html(border=0))
    delta = e.summary.dropna(subset=["delta_r2"]).pivot(
        index=["target", "regressor"], columns="scheme", values=["delta_r2", "p_delta"]
    )
    caption = "<p>ΔR² of biases beyond ImageNet top-1 (p_delta: OLS, bias rows permuted across models)</p>"
    section.tables.append(caption + _html(delta))
    fig = predicted_vs_true(e.predictions, e.summary)
    if fig is not None:
        section.figures.append(figs.add(fig, "explain_predicted_vs_true", "Held-out ridge predictions (LOMO)"))
    if not e.importance.empty:
        imp = e.importance[(e.importance["features"] == "biases") & (e.importance["regressor"] == "ridge")]
        section.tables.append("<p>Importance (standardised OLS coefficients, 95% bootstrap CI; "
                              "drop-one ΔR² under LOMO ridge)</p>" + _html(imp.drop(columns=["features"])))  # fmt: skip
    return [section]


def _informativeness_section(a: Analysis, figs: _Figures) -> list[Section]:
    if a.informativeness is None or a.informativeness.empty:
        return []
    text = (
        "Informativeness (Djolonga et al., CVPR 2021): leave-one-model-out accuracy of predicting the model "
        "category by multinomial logistic regression from ImageNet top-1 plus one bias; gain over top-1 alone "
        "with a bootstrap interval over models."
    )
    return [Section("informativeness", "Informativeness beyond ImageNet accuracy", text, [_html(a.informativeness)])]


HUMANS_TEXT = (
    "16-class decisions of the models against the human observers of model-vs-human (Geirhos et al., NeurIPS "
    "2021), matched trial by trial on the image. Error consistency κ = (c_obs - c_exp) / (1 - c_exp) with "
    "c_obs the fraction of trials both get right or both get wrong and c_exp = p1 p2 + (1 - p1)(1 - p2) "
    "(Geirhos et al., NeurIPS 2020); a model's κ is its mean over the subjects, the humans' row the mean "
    "over all subject pairs (the ceiling). Cue-conflict 'correct' = the shape category."
)


def _humans_section(a: Analysis, figs: _Figures) -> list[Section]:
    h = a.humans
    if h is None or h.summary.empty:
        return []
    from biasbench.plots.figures import error_consistency_bars, shape_bias_by_category

    section = Section(
        "humans", "Models against humans", HUMANS_TEXT, [_html(h.summary.set_index(["dataset", "observer"]))]
    )
    fig = shape_bias_by_category(h.per_category)
    if fig is not None:
        section.figures.append(figs.add(fig, "shape_bias_by_category", "Shape bias per category: humans vs models"))
    fig = error_consistency_bars(h.summary)
    if fig is not None:
        section.figures.append(figs.add(fig, "error_consistency", "Error consistency with the human subjects"))
    return [section]


def _robustness_transfer_section(a: Analysis, figs: _Figures) -> list[Section]:
    """Djolonga et al. (2021): Spearman matrix over ImageNet, robustness and transfer; residual analysis."""
    from biasbench.analysis.transfer import meta_table, residual_table, rho_matrix, spearman_matrix

    table = meta_table(a.records)
    if not any(c.startswith("transfer") for c in table.columns) or len(table) < 3:
        return []
    pairs = spearman_matrix(table)
    text = (
        "Spearman rho across models (95% bootstrap CIs in the table below). Residual = mean robustness minus "
        "ImageNet top-1 (difference) or its OLS residual on ImageNet top-1, correlated with transfer."
    )
    from biasbench.plots.transfer import rho_heatmap

    matrix = rho_matrix(pairs, table.columns)
    figure = figs.add(rho_heatmap(matrix), "robustness_transfer", "Spearman rho: ImageNet, robustness, transfer")
    tables = [_html(matrix, 2), _html(residual_table(table), 3), _html(pairs, 3)]
    return [Section("robustness-transfer", "Robustness vs transfer (Djolonga et al. 2021)", text, tables, [figure])]


def _resolution_section(a: Analysis, figs: _Figures) -> list[Section]:
    from biasbench.plots.resolution import resolution_figure

    fig = resolution_figure(a.records)
    if fig is None:
        return []
    best = a.records[(a.records["probe"] == "resolution") & (a.records["metric"] == "best_resolution")]
    table = best.pivot_table(index="model", columns=["dataset", "condition"], values="value")
    caption = "Top-1 against test resolution (solid: naive, dashed: BatchNorm re-estimated; star: best r)"
    figure = figs.add(fig, "resolution", caption)
    return [Section("resolution", "Test resolution", "Best resolution per dataset and protocol.", [_html(table, 0)],
                    [figure])]  # fmt: skip


def _si_score_section(a: Analysis, figs: _Figures) -> list[Section]:
    """Djolonga et al. (2021): top-1 against object size / rotation (curves) or location (heat-maps), one
    figure per SI-SCORE dataset."""
    rows = a.records[a.records["probe"] == "si-score"]
    section = Section("si-score", "Object size, location and rotation (SI-SCORE)")
    for dataset, part in rows.groupby("dataset", sort=True):
        if (part["condition"].astype(str) != "").any():
            section.figures.append(figs.add(si_score_figure(part), f"si_score_{dataset}", f"SI-SCORE on {dataset}"))
    return [section] if section.figures else []


SECTIONS = (
    _bias_sections, _correlation_sections, _bias_bias_section, _criticality_section, _explain_sections,
    _informativeness_section, _humans_section, _robustness_transfer_section, _resolution_section,
    _si_score_section,
)  # fmt: skip


def write_report(analysis: Analysis, out_html: str | Path, title: str = "biasbench report") -> Path:
    """Render ``analysis`` to one self-contained HTML file; figures also go to ``<dir>/figures/``."""
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    figs = _Figures(out_html.parent / FIGURES_DIR)
    sections = [_model_section(analysis)]
    for build in SECTIONS:
        sections += build(analysis, figs)
    n_models = len(analysis.scores)
    summary = f"{n_models} models, {len(analysis.records)} records, {len(figs.paths) // 2} figures."
    env = Environment(loader=PackageLoader("biasbench.report", "templates"), autoescape=select_autoescape())
    html = env.get_template("report.html.j2").render(
        title=title, summary=summary, sections=sections, notes=analysis.notes
    )
    out_html.write_text(html, encoding="utf-8")
    return out_html
