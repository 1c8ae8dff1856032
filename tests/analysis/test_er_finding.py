"""The summary's effective-robustness sentence on a zoo whose answer is known: ER recomputed by hand (numpy's
polyfit on logits), Spearman ρ by scipy, Holm by hand, the partial ρ from residualised ranks; the shape bias
orders the models exactly as their ER on ImageNet-V2 (ρ = 1), the low-frequency bias is a fixed permutation,
and the ImageNet-R line is left undetermined by large residuals of the reference models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from biasbench.analysis.findings import effective_robustness_findings
from biasbench.analysis.pipeline import analyse

from .conftest import make_records

REFERENCE = {"ref_a": 0.60, "ref_b": 0.66, "ref_c": 0.72, "ref_d": 0.78, "ref_e": 0.82}
OTHERS = {"m_a": 0.64, "m_b": 0.70, "m_c": 0.75, "m_d": 0.68, "m_e": 0.80, "m_f": 0.62}
# logit residuals of the reference models: small on V2 (a determined line), large on R (an undetermined one)
RESIDUALS = {"imagenet-v2": [0.01, -0.02, 0.005, 0.015, -0.01], "imagenet-r": [0.6, -0.7, 0.5, -0.6, 0.2]}
OFFSETS = [0.05, 0.10, 0.15, 0.20, 0.25, 0.30]  # the other models above the line, in logit units
LOW_FREQ = [0.61, 0.52, 0.70, 0.48, 0.66, 0.55, 0.50, 0.68, 0.58, 0.63, 0.47]


def logit(p):
    return np.log(p / (1 - p))


def expit(x):
    return 1 / (1 + np.exp(-x))


def _er_by_hand(top1: pd.Series, ood: pd.Series) -> pd.Series:
    slope, intercept = np.polyfit(logit(top1[list(REFERENCE)]), logit(ood[list(REFERENCE)]), 1)
    return 100 * (ood - expit(slope * logit(top1) + intercept))


def _zoo() -> tuple[pd.DataFrame, pd.Series, dict[str, pd.Series]]:
    top1 = pd.Series({**REFERENCE, **OTHERS})
    ood = {}
    for name, residuals in RESIDUALS.items():
        shift = np.concatenate([residuals, OFFSETS])
        ood[name] = pd.Series(expit(1.2 * logit(top1.to_numpy()) - 0.5 + shift), index=top1.index)
    er = {name: _er_by_hand(top1, values) for name, values in ood.items()}
    shape = 0.2 + 0.05 * er["imagenet-v2"].rank()  # orders the models exactly as their ER on V2
    rows = []
    for i, model in enumerate(top1.index):
        rows += [(model, "accuracy", "imagenet-val", "top1", "", top1[model])]
        rows += [(model, "accuracy", name, "top1", "", ood[name][model]) for name in RESIDUALS]
        rows += [(model, "shape-bias", "cue-conflict", "shape_bias", "", shape[model])]
        rows += [(model, "spectral", "imagenet-val", "low_freq_bias", "", LOW_FREQ[i])]
    categories = pd.Series({m: "baseline" if m in REFERENCE else "augmentation" for m in top1.index}, name="category")
    return make_records(rows), categories, {"top1": top1, "shape": shape, **er}


def _holm(p: list[float]) -> np.ndarray:
    order = np.argsort(p)
    adjusted = np.maximum.accumulate([(len(p) - k) * p[i] for k, i in enumerate(order)])
    out = np.empty(len(p))
    out[order] = np.minimum(adjusted, 1)
    return out


def _partial(x: pd.Series, y: pd.Series, z: pd.Series) -> float:
    rx, ry, rz = (stats.rankdata(v) for v in (x, y, z))
    residual = [r - np.polyval(np.polyfit(rz, r, 1), rz) for r in (rx, ry)]
    return float(np.corrcoef(*residual)[0, 1])


def test_the_sentence_names_the_correlating_bias_the_accuracy_left_and_the_unstable_line():
    records, categories, truth = _zoo()
    analysis = analyse(records, categories, methods=("spearman",), n_boot=300, n_perm=0, seed=0)
    er = analysis.effective_robustness
    assert er is not None and er.reference == list(REFERENCE)  # the baseline category is the default reference
    for name in RESIDUALS:  # the analysis' ER is the hand-computed one
        np.testing.assert_allclose(er.values[name].reindex(truth["top1"].index), truth[name], atol=1e-9)
    assert er.unstable == ["imagenet-r"]
    cells = {
        (bias, name): stats.spearmanr(values, truth[name])
        for bias, values in (
            ("shape_bias", truth["shape"]),
            ("low_freq_bias", pd.Series(LOW_FREQ, truth["top1"].index)),
        )
        for name in RESIDUALS
    }
    holm = dict(zip(cells, _holm([c.pvalue for c in cells.values()]), strict=True))
    significant = [k for k, p in holm.items() if p < 0.05]
    assert significant == [("shape_bias", "imagenet-v2")]  # the known answer: ρ = 1 there, nothing else survives
    assert cells[("shape_bias", "imagenet-v2")].statistic == pytest.approx(1.0)
    row = er.side_by_side().set_index(["bias", "ood"]).loc[("shape_bias", "imagenet-v2")]
    ood_v2 = records.query("dataset == 'imagenet-v2'").set_index("model")["value"]
    partial = _partial(truth["shape"], ood_v2.reindex(truth["shape"].index), truth["top1"])
    assert row["rho_partial"] == pytest.approx(partial, abs=1e-9)
    with_top1 = [n for n in RESIDUALS if stats.spearmanr(truth[n], truth["top1"]).pvalue < 0.05]
    titles = {"imagenet-v2": "ImageNet-V2", "imagenet-r": "ImageNet-R"}
    text = (
        "against the line of the 5 models of baseline on 2 OOD sets, 1 of 4 bias × set correlations with ER survives "
        "Holm-adjusted p < 0.05: shape bias on 1 of 2 (strongest ImageNet-V2: ρ = 1.00 [1.00, 1.00], partial ρ given "
        f"top-1 {f'{partial:.2f}'.replace('-', '−')})."
    )
    if with_top1:
        text += (
            f" ER still correlates with ImageNet top-1 on {' and '.join(titles[n] for n in with_top1)} (p < 0.05): "
            "there a bias that goes with accuracy goes with ER too; compare the partial correlations."
        )
    text += (
        " The reference line is unstable (slope CI wider than 1) on ImageNet-R: ER there extrapolates a line the "
        "reference models do not determine (stable: ImageNet-V2)."
    )
    found = effective_robustness_findings(er)
    assert [f.lead for f in found] == ["Effective robustness"]
    assert found[0].text == text


def test_no_sentence_without_effective_robustness():
    records, categories, _ = _zoo()
    records = records[records["dataset"] != "imagenet-val"]  # no ImageNet top-1: no line
    analysis = analyse(records, categories, methods=("spearman",), n_boot=0, n_perm=0)
    assert analysis.effective_robustness is None and effective_robustness_findings(None) == []
