"""The report's generated sentences on zoos whose answer is known: a bias that orders the models exactly as
one score does, another that is unrelated to everything, siblings that differ only in a number, and the design
limits of a two-model study."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from biasbench.analysis.caveats import design_caveats, sibling_groups
from biasbench.analysis.findings import design_findings, findings, model_findings
from biasbench.analysis.pipeline import Analysis, analyse
from biasbench.analysis.sentences import fmt, fmt_p, p_is
from biasbench.analysis.specs import SCORES

from .conftest import make_records

N = 12
CATEGORIES = pd.Series(
    ["adversarial_training"] * 4 + ["augmentation"] * 4 + ["contrastive"] * 4,
    index=[f"robust_eps{e}" for e in (1, 2, 4, 8)] + [f"aug_{c}" for c in "abcd"] + [f"ssl_{c}" for c in "abcd"],
    name="category",
)


def zoo() -> pd.DataFrame:
    """12 models: shape bias orders them exactly as Robustness does (ρ = 1, and Robustness is linear in it);
    the low-frequency bias is a fixed permutation unrelated to every score; ID equals ImageNet top-1."""
    rng = np.random.default_rng(3)
    models = list(CATEGORIES.index)
    robustness = np.linspace(0.2, 0.5, N)
    other = {s.name: rng.uniform(0.3, 0.8, N) for s in SCORES if s.name != "robustness"}
    low_freq = np.array([0.61, 0.52, 0.70, 0.48, 0.66, 0.55, 0.50, 0.68, 0.58, 0.63, 0.47, 0.71])
    rows = []
    for i, model in enumerate(models):
        for spec in SCORES:
            value = robustness[i] if spec.name == "robustness" else other[spec.name][i]
            rows += [(model, m.probe, m.dataset, m.metric, m.condition, value) for m in spec.members]
        rows.append((model, "shape-bias", "cue-conflict", "shape_bias", "", 0.1 + robustness[i]))
        rows.append((model, "spectral", "imagenet-val", "low_freq_bias", "", low_freq[i]))
    return make_records(rows)


@pytest.fixture(scope="module")
def analysis() -> Analysis:
    return analyse(zoo(), CATEGORIES, methods=("spearman",), n_boot=200, n_perm=99, seed=0)


def test_the_correlating_bias_is_named_with_rho_and_ci_and_the_other_is_not(analysis):
    f = findings(analysis)
    by_score = {x.lead: x.text for x in f.correlations}
    assert list(by_score) == ["ID", "Robustness", "Concepts", "Adversarial"]
    assert by_score["Robustness"] == "1 of 2 biases correlate: shape bias (ρ = 1.00 [1.00, 1.00])."
    cells = analysis.correlations.query("subset == 'total' and control == 'none'").set_index(["bias", "benchmark"])
    assert "low-frequency bias" not in by_score["Robustness"]
    assert (cells.xs("low_freq_bias")["p_holm"] > 0.05).all()  # the unrelated bias never survives the correction
    # where nothing survives, the strongest cell is named with its raw and adjusted p
    for score in ("ID", "Concepts", "Adversarial"):
        name = {"ID": "id", "Concepts": "concepts", "Adversarial": "adversarial"}[score]
        part = cells.xs(name, level="benchmark")
        top = part["rho"].abs().idxmax()
        noun = {"shape_bias": "shape bias", "low_freq_bias": "low-frequency bias"}[top]
        assert by_score[score].startswith(f"no bias correlates after correction; the strongest is {noun} (ρ = ")
        assert by_score[score].endswith(f"{p_is(part.at[top, 'p'])}, {p_is(part.at[top, 'p_holm'], 'adjusted p')}.")
    assert f.correction == (
        "Significance: Spearman p-values Holm-adjusted over the 8 bias × score tests on all 12 models (α = 0.05); "
        "brackets are 95 % percentile-bootstrap CIs over models."
    )


def test_joint_prediction_sentences_and_the_construction_caveat(analysis):
    f = findings(analysis, regressor="ols")
    jointly = next(x for x in f.joint if x.lead == "Jointly").text
    # Robustness is linear in the shape bias: OLS predicts every held-out model (and category) exactly
    assert "Robustness 1.00 / 1.00" in jointly
    reading = next(x for x in f.joint if x.lead == "Reading").text
    s = analysis.explained.summary.query("features == 'biases' and regressor == 'ols' and scheme == 'loco'")
    below = [t for t, r2 in zip(s["target"], s["r2"], strict=True) if r2 < 0]
    assert ("falls below 0" in reading) == bool(below)
    caveat = next(x for x in f.caveats if x.lead == "ID ← top-1").text
    assert (
        caveat
        == "R² = 1.00 (LOMO) holds largely by construction: ImageNet top-1 is one of the 3 accuracies ID averages."
    )


def test_siblings_are_found_and_the_r2_without_adversarial_training_is_quoted(analysis):
    assert sibling_groups(CATEGORIES) == [("robust_eps*", ["robust_eps1", "robust_eps2", "robust_eps4", "robust_eps8"])]
    text = next(x for x in design_caveats(analysis) if x.lead == "Siblings").text
    assert "such as robust_eps* (4 models)" in text
    other = analysis.explained_other.summary.query("features == 'biases' and regressor == 'ridge' and scheme == 'lomo'")
    assert int(other["n_models"].max()) == 8
    r2 = dict(zip(other["target"], other["r2"], strict=True))
    assert "Within the 8 models outside adversarial training (no ε-series) the biases' LOMO R² (ridge) is " in text
    assert f"Robustness {fmt(r2['robustness'])}" in text


def test_standout_models_skip_shared_extremes():
    table = pd.DataFrame(
        {"shape_bias": [0.1, 0.5, 0.9, 0.3, 0.2], "peak_noise_sensitivity": [1.0, 1.0, 0.5, 0.7, 0.6]},
        index=[f"m{i}" for i in range(5)],
    )
    a = Analysis(
        pd.DataFrame(),
        pd.Series(dtype=str),
        pd.DataFrame(index=table.index),
        table,
        pd.DataFrame(),
        pd.DataFrame(),
        pd.DataFrame(),
        None,
    )
    lines = {x.lead: x.text for x in model_findings(a)}
    assert lines == {
        "m2": "highest shape bias (0.90); lowest peak noise sensitivity (0.50).",
        "m0": "lowest shape bias (0.10).",
    }  # the top peak noise sensitivity (1.00) is shared by m0 and m1: it stands out for neither


def _toy(cells: list[tuple]) -> Analysis:
    frame = pd.DataFrame(cells, columns=["bias", "benchmark", "rho", "p", "p_holm", "ci_low", "ci_high", "n"])
    frame = frame.assign(subset="total", method="spearman", control="none", p_bh=frame["p_holm"])
    return Analysis(
        pd.DataFrame(),
        pd.Series(dtype=str),
        pd.DataFrame(),
        pd.DataFrame(),
        frame,
        pd.DataFrame(),
        pd.DataFrame(),
        None,
    )


def test_ci_and_corrected_p_disagreements_are_said():
    lost = _toy(
        [
            ("shape_bias", "id", 0.45, 0.01, 0.2, 0.10, 0.70, 20),
            ("shape_bias", "concepts", 0.1, 0.5, 1.0, -0.3, 0.4, 20),
        ]
    )
    (finding,) = design_caveats(lost)
    assert finding.text.startswith("1 cell(s) have a 95 % CI that excludes 0 but are not significant after correction")
    odd = _toy([("shape_bias", "id", 0.30, 0.001, 0.01, -0.05, 0.61, 48)])
    (finding,) = design_caveats(odd)
    assert finding.text.startswith(
        "1 significant cell(s) have a bootstrap CI that contains 0 (shape bias (ρ = 0.30 [−0.05, 0.61]))"
    )
    agree = _toy([("shape_bias", "id", 0.8, 0.0001, 0.001, 0.5, 0.9, 20)])
    assert design_caveats(agree) == []


def test_what_a_two_model_study_cannot_show():
    rows = [(m, "shape-bias", "cue-conflict", "shape_bias", "", v) for m, v in (("a", 0.2), ("b", 0.3))]
    a = analyse(make_records(rows), n_boot=0, n_perm=0)
    design = {x.lead: x.text for x in design_findings(a)}
    assert design["2 models"] == (
        "no correlation between biases and generalization can be computed: it needs at least 3 models with a "
        "bias and a complete generalization score; 2 have a bias and 0 a complete score."
    )
    assert design["No scores"].startswith("no model has a complete generalization score (needs ID: imagenet-val, ")
    assert "No joint prediction" in design
    assert {x.lead: x.text for x in model_findings(a)} == {"a": "shape bias 0.20.", "b": "shape bias 0.30."}


def test_number_formats():
    assert fmt(-0.004) == "−0.00" and fmt(float("nan")) == "n/a" and fmt(0.125, 1) == "0.1"
    assert fmt_p(0.0004) == "< 0.001" and fmt_p(0.01234) == "0.0123"
    assert p_is(0.0004) == "p < 0.001" and p_is(0.5, "adjusted p") == "adjusted p = 0.5"
