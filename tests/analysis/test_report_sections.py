"""The report sections for effective robustness, the ranking-based shape bias, ImageNet-X failure factors and
models that are not ImageNet classifiers, on a results directory that has all of them (``full_report_fixtures``):
the rendered tables against the analysis outputs and independent computations (numpy's logit fit, scipy's
Spearman), the labels of the zero-shot and imported models, and the browser checks at 1440 × 900."""

from __future__ import annotations

import re
from html import unescape

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from biasbench.api import make_report
from biasbench.store import ResultsStore

from .chromium import CHROMIUM
from .full_report_fixtures import CLASSIFIERS, PROMPT, VLM, ZERO_SHOT, logit, write_full
from .test_report import assert_reads_well

needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (CI: apt-get install -y chromium)")


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    root = tmp_path_factory.mktemp("full")
    categories = write_full(root)
    result = make_report(root, root / "report.html", categories=categories, n_boot=200)
    return result, result.path.read_text()


def _section(html: str, section_id: str) -> str:
    start = html.index(f'<section id="{section_id}">')
    return html[start : html.index("</section>", start)]


def _rows(html: str) -> list[list[tuple[str, str]]]:
    """Every body row of the tables in ``html``: (sort key, text) per cell."""
    out = []
    for body in re.findall(r"<tbody>(.*?)</tbody>", html, re.S):
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
            cells = re.findall(r'<td data-v="([^"]*)"[^>]*>(.*?)</td>', row, re.S)
            out.append([(unescape(v), unescape(re.sub(r"<[^>]+>", "", t.replace("<br>", " ")))) for v, t in cells])
    return out


def test_effective_robustness_table_shows_the_analysis_and_the_hand_fitted_line(full):
    result, html = full
    er = result.analysis.effective_robustness
    assert er is not None and er.reference == ["base_a", "base_b", "base_c", "base_d"]  # the baseline category
    section = _section(html, "effective-robustness")
    records = result.analysis.records
    top1 = records.query("dataset == 'imagenet-val' and metric == 'top1'").set_index("model")["value"]
    for name in ("imagenet-r", "imagenet-sketch"):
        ood = records.query("dataset == @name").set_index("model")["value"]
        ref = list(er.reference)
        slope, intercept = np.polyfit(logit(top1[ref]), logit(ood[ref]), 1)
        by_hand = 100 * (ood - 1 / (1 + np.exp(-(slope * logit(top1[ood.index]) + intercept))))
        np.testing.assert_allclose(er.values[name].reindex(by_hand.index), by_hand, atol=1e-9)
    # rank, model, category, role, top-1, R, Sketch
    per_model = [r for r in _rows(section) if len(r) == 7 and r[1][1] in er.values.index]
    assert [r[1][1] for r in per_model] == list(er.values["imagenet-r"].sort_values(ascending=False).index)
    for row in per_model:
        model = row[1][1]
        for (key, text), ood in zip(row[5:], ("imagenet-r", "imagenet-sketch"), strict=True):
            pm = er.per_model
            value = pm[(pm["model"] == model) & (pm["ood"] == ood)].iloc[0]
            assert float(key) == pytest.approx(value["effective_robustness"])
            low, high = (f"{value[c]:.1f}".replace("-", "−") for c in ("er_low", "er_high"))
            assert text == f"{value['effective_robustness']:+.1f}".replace("-", "−") + f" [{low}, {high}]"
        assert row[3][1] == ("reference" if model in er.reference else "")
    # the bias-ER table: Spearman of the shape bias with ER over the six models, as scipy computes it
    shape = pd.Series({m: v[3] for m, v in CLASSIFIERS.items()})
    correlations = [r for r in _rows(section) if len(r) == 7 and r[0][1] == "shape bias"]
    for row in correlations:
        name = {"ImageNet-R": "imagenet-r", "ImageNet-Sketch": "imagenet-sketch"}[row[1][1].removesuffix(" †")]
        rho = stats.spearmanr(shape[er.values.index], er.values[name]).statistic
        assert float(row[2][0]) == pytest.approx(rho)
    assert len(correlations) == 2
    assert 'id="bias_vs_effective_robustness"' not in html  # figures are embedded, not linked
    assert {"effective_robustness_lines.png", "bias_vs_effective_robustness.png"} <= {
        p.name for p in (result.path.parent / "figures").iterdir()
    }


def test_the_summary_says_what_effective_robustness_shows_and_how_models_decide(full):
    result, html = full
    summary = unescape(_section(html, "summary"))
    assert "<b>Effective robustness</b>: against the line of the 4 models of baseline on 2 OOD sets" in summary
    assert (
        f"<b>Decision rules</b>: vlm-7b (imported VLM answers) and {ZERO_SHOT} (zero-shot CLIP) decide among the 16 "
        "categories directly, while the 6 classifiers' decisions are mapped from 1000 ImageNet classes" in summary
    )
    statistics = _section(html, "statistics")
    assert "Effective robustness: per OOD set an OLS line on logit axes" in statistics
    assert "Ranking-based vs 16-class shape bias: Spearman" in statistics


def test_models_table_says_how_the_zero_shot_and_imported_models_decide(full):
    _, html = full
    rows = {r[1][1]: r for r in _rows(_section(html, "models"))}
    decides = {m: rows[m][3][1] for m in (ZERO_SHOT, VLM, "base_a")}
    assert decides[ZERO_SHOT] == "zero-shot over the 16 category names, 80 templates (openai80)"
    assert decides[VLM] == "answers to the prompt “Which option best describes the image? / A. airplane / B. b…”"
    assert decides["base_a"] == "1000-way ImageNet head"
    assert f'title="{PROMPT}"' in unescape(_section(html, "models"))  # the whole prompt on hovering


def test_ranking_based_shape_bias_beside_the_16_class_ratio(full):
    result, html = full
    section = unescape(_section(html, "shape-bias"))
    rows = {r[0][1]: r for r in _rows(section) if len(r) == 6}
    records = result.analysis.records
    for model in CLASSIFIERS:
        mine = records.query("model == @model and probe == 'shape-bias' and condition == ''").set_index("metric")
        for column, metric in ((1, "shape_bias"), (2, "shape_bias_mrr")):
            r = mine.loc[metric]
            assert rows[model][column][1] == f"{r['value']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        assert float(rows[model][3][0]) == pytest.approx(mine.at["shape_mrr", "value"])
    for model in (ZERO_SHOT, VLM):  # they rank no 1000 classes: said, not left blank
        assert [rows[model][c][1] for c in (2, 3, 4)] == ["no 1000-class ranking"] * 3
    mrr = records.query("metric == 'shape_bias_mrr'").set_index("model")["value"]
    shape = records.query("metric == 'shape_bias' and model in @mrr.index").set_index("model")["value"]
    want = stats.spearmanr(shape, mrr[shape.index])
    assert f"cue-conflict ranking: Spearman ρ = {want.statistic:.2f} [" in section and "n = 6" in section
    assert (result.path.parent / "figures" / "ranking_vs_ratio.png").is_file()


def test_failure_factors_section_from_the_stored_val_predictions(full):
    pytest.importorskip("imagenet_x", reason="needs biasbench[factors] (imagenet-x)")
    from biasbench.analysis.failure_factors import analyse_failure_factors

    result, html = full
    ff = result.analysis.failure_factors
    direct = analyse_failure_factors(result.path.parent, n_boot=0)
    pd.testing.assert_frame_equal(ff.ratios, direct.ratios)
    section = unescape(_section(html, "failure-factors"))
    counts = {r[0][1]: [int(float(k)) for k, _ in r[1:]] for r in _rows(section)}
    for row in ff.counts.itertuples():
        assert counts[row.model] == [row.stored, row.not_val, row.annotated, row.label_mismatch]
    assert counts["base_a"][:2] == [1220, 20]
    assert section.count("are not ImageNet validation files") == 1  # one line for all six models
    assert {"factor_error_ratios.png", "bias_factor_correlations.png"} <= {
        p.name for p in (result.path.parent / "figures").iterdir()
    }


def test_no_failure_factors_section_without_val_files(tmp_path):
    from .report_fixtures import write_demo_like

    categories = write_demo_like(tmp_path)  # accuracy on imagenet-sample only: no section, no note
    result = make_report(tmp_path, tmp_path / "report.html", categories=categories, n_boot=0)
    html = result.path.read_text()
    assert result.analysis.failure_factors is None and 'id="failure-factors"' not in html
    assert "ImageNet-X" not in html and 'id="effective-robustness"' not in html


@needs_chromium
def test_full_report_reads_well_in_chromium(full):
    result, _ = full
    m = assert_reads_well(result.path, 6)
    assert {"Effective robustness", "Why models fail: ImageNet-X factors", "Shape bias"} <= set(m["headings"])


@pytest.fixture(scope="module")
def full_in_context(tmp_path_factory, data_root):
    folder = data_root / "biases-vs-generalization"
    if not (folder / "benchmark.csv").is_file():
        pytest.skip("the released Gavrikov & Keuper data are not under the data root")
    root = tmp_path_factory.mktemp("full_context")
    categories = write_full(root)
    result = make_report(root, root / "report.html", categories=categories, context="gavrikov2024", n_boot=200)
    return result, folder


def test_your_models_against_the_study_lines_where_comparable(full_in_context):
    import json

    result, folder = full_in_context
    placed = _placement(result).effective_robustness
    csv = pd.read_csv(folder / "benchmark.csv").set_index("model")
    cats = json.loads((folder / "r50_categories.json").read_text())
    reference = cats["baseline"] + cats["training_recipes"]
    x, y = csv["top1_acc/imagenet"] / 100, csv["top1_acc/imagenet-r"] / 100
    slope, intercept = np.polyfit(logit(x[reference]), logit(y[reference]), 1)
    records = result.analysis.records
    study_er = result.context.analysis.effective_robustness.values["imagenet-r"]
    for model in CLASSIFIERS:  # full ImageNet val and ImageNet-R: the study's protocol
        row = placed[(placed["model"] == model) & (placed["ood"] == "imagenet-r")].iloc[0]
        mine = records[records["model"] == model].set_index("dataset")["value"]
        by_hand = 100 * (mine["imagenet-r"] - 1 / (1 + np.exp(-(slope * logit(mine["imagenet-val"]) + intercept))))
        assert row["status"] == "same" and row["effective_robustness"] == pytest.approx(by_hand, abs=1e-9)
        assert row["rank"] == 1 + int((study_er > row["effective_robustness"] + 1e-9).sum())
    for model in (ZERO_SHOT, VLM):  # no accuracies: listed with the reason, never drawn
        rows = placed[placed["model"] == model]
        assert (rows["status"] == "not comparable").all() and rows["effective_robustness"].isna().all()
        assert rows["reason"].str.contains("ImageNet top-1: not measured").all()
    table = _placement(result).table  # the shape bias of the 16-name head and the VLM: approximate, and why
    shape = {r.model: (r.status, r.reason) for r in table[table["measurement"] == "shape_bias"].itertuples()}
    study = "(study: 1000-way ImageNet classifiers, mapped to the 16 categories)"
    assert shape[ZERO_SHOT] == (
        "approximate",
        f"decided by zero-shot over the 16 category names, 80 templates (openai80) {study}",
    )
    assert shape[VLM][0] == "approximate" and shape[VLM][1].startswith("decided by answers to the prompt “Which")
    assert shape["base_a"] == ("same", "")
    html = result.path.read_text()
    # folded: 6 sets the classifiers did not measure, and all 8 for the two models without ImageNet top-1
    assert "Not comparable with the study's lines (52 model × set pairs, with the reason)" in html


def _placement(result):
    from biasbench.analysis.context import place

    return place(result.analysis, result.context)


@needs_chromium
def test_full_report_in_context_reads_well_in_chromium(full_in_context):
    m = assert_reads_well(full_in_context[0].path, 15)
    assert {"Effective robustness — Gavrikov & Keuper, CVPR 2024", "Why models fail: ImageNet-X factors"} <= set(
        m["headings"]
    )


def test_ranking_bias_of_too_few_models_is_a_table_and_a_note(tmp_path):
    from .report_fixtures import add_job

    store = ResultsStore(tmp_path)
    for k, (model, mrr) in enumerate((("one", 0.3), ("two", 0.4))):
        rows = [("shape_bias", "", 0.2 + k / 10), ("shape_bias_mrr", "", mrr), ("shape_mrr", "", mrr / 3),
                ("texture_mrr", "", 0.2)]  # fmt: skip
        add_job(store, f"sb{k}", model, "shape-bias", "cue-conflict", rows, n_images=1280)
    html = make_report(tmp_path, tmp_path / "report.html", n_boot=0).path.read_text()
    section = unescape(_section(html, "shape-bias"))
    assert "2 models have both the 16-class and a ranking-based shape bias; comparing the two across models needs " \
           "at least 3." in section  # fmt: skip
    assert "ranking-based shape bias, cue-conflict [95 % CI]" in section and "ranking_vs_ratio" not in section
