"""Effective robustness on fixtures with a known line: the logit fit and its bootstrap against independent
computations (numpy's polyfit on log(p / (1 - p)), ImageNet-testbed's formula), ER on / above / below the line,
the narrow-span warning, the reference set, and the bias correlations against scipy."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from biasbench.analysis.effective_robustness import effective_robustness, resolve_reference
from biasbench.analysis.line_fit import fit_line
from biasbench.core.errors import BiasbenchError, UnknownNameError

from .conftest import make_records

SLOPE, INTERCEPT = 1.3, -0.7


def logit(p):
    return np.log(np.asarray(p) / (1 - np.asarray(p)))  # ImageNet-testbed's transform_acc(..., "logit")


def on_line(x):
    return 1 / (1 + np.exp(-(SLOPE * logit(x) + INTERCEPT)))


REFERENCE_ID = {"ref0": 0.60, "ref1": 0.66, "ref2": 0.72, "ref3": 0.78, "ref4": 0.82}
# Logit residuals of the reference models in the noisy fixture (they sum to zero).
RESIDUALS = np.array([0.05, -0.08, 0.02, 0.06, -0.05])
# model -> (ImageNet top-1, OOD accuracy minus the line's value): on, above and below the line, one extrapolated.
OTHERS = {"on": (0.64, 0.0), "above": (0.70, 0.05), "below": (0.75, -0.03), "far": (0.50, 0.10)}
SHAPE_BIAS = {"ref0": 0.2, "ref1": 0.25, "ref2": 0.22, "ref3": 0.3, "ref4": 0.28, "on": 0.4, "above": 0.6,
              "below": 0.1, "far": 0.9}  # fmt: skip


def zoo(residuals=(0.0,) * 5, reference_id=REFERENCE_ID):
    """Records and categories: reference models ("standard") on the line plus ``residuals`` (logit units),
    the others at known distances from it; ImageNet-R is the only OOD set."""
    rows, cats = [], {}
    for (model, x), e in zip(reference_id.items(), residuals, strict=True):
        y = 1 / (1 + np.exp(-(SLOPE * logit(x) + INTERCEPT + e)))
        rows += [(model, "accuracy", "imagenet-val", "top1", "", x), (model, "accuracy", "imagenet-r", "top1", "", y)]
        cats[model] = "standard"
    for model, (x, offset) in OTHERS.items():
        rows += [(model, "accuracy", "imagenet-val", "top1", "", x)]
        rows += [(model, "accuracy", "imagenet-r", "top1", "", on_line(x) + offset)]
        cats[model] = "other"
    rows += [(m, "shape-bias", "cue-conflict", "shape_bias", "", v) for m, v in SHAPE_BIAS.items() if m in cats]
    return make_records(rows), pd.Series(cats, name="category").rename_axis("model")


def test_logit_fit_recovers_a_known_line_exactly():
    x = np.array(list(REFERENCE_ID.values()))
    fit = fit_line(x, on_line(x), n_boot=0)
    assert fit.slope == pytest.approx(SLOPE, abs=1e-12) and fit.intercept == pytest.approx(INTERCEPT, abs=1e-12)
    assert fit.r == pytest.approx(1.0, abs=1e-12) and fit.residual_sd == pytest.approx(0.0, abs=1e-12)
    assert fit.predict(np.array([0.5, 0.9])) == pytest.approx(on_line(np.array([0.5, 0.9])), abs=1e-14)


def test_logit_fit_matches_least_squares_by_hand():
    x = np.array(list(REFERENCE_ID.values()))
    y = 1 / (1 + np.exp(-(SLOPE * logit(x) + INTERCEPT + RESIDUALS)))
    fit = fit_line(x, y, n_boot=0)
    tx, ty = logit(x), logit(y)
    slope = ((tx - tx.mean()) * (ty - ty.mean())).sum() / ((tx - tx.mean()) ** 2).sum()
    assert fit.slope == pytest.approx(slope, abs=1e-12)
    assert fit.intercept == pytest.approx(ty.mean() - slope * tx.mean(), abs=1e-12)
    residual = ty - (slope * tx + ty.mean() - slope * tx.mean())
    assert fit.residual_sd == pytest.approx(np.sqrt((residual**2).sum() / 3), abs=1e-12)
    assert fit.id_span == pytest.approx(logit(0.82) - logit(0.60), abs=1e-12)


def test_bootstrap_ci_is_seeded_and_matches_polyfit_resamples():
    x = np.array(list(REFERENCE_ID.values()))
    y = 1 / (1 + np.exp(-(SLOPE * logit(x) + INTERCEPT + RESIDUALS)))
    fit = fit_line(x, y, n_boot=300, seed=7)
    again, other = fit_line(x, y, n_boot=300, seed=7), fit_line(x, y, n_boot=300, seed=8)
    assert fit.slope_ci == again.slope_ci and np.array_equal(fit.draws, again.draws)
    assert fit.slope_ci != other.slope_ci
    # By hand: the same resamples, each fitted by numpy's polyfit; constant-x resamples dropped; ImageNet-testbed's
    # percentiles (lower / higher order statistic).
    index = np.random.default_rng(7).integers(0, 5, size=(300, 5))
    coefs = np.array([np.polyfit(logit(x[i]), logit(y[i]), 1) for i in index if np.ptp(x[i]) > 0])
    assert len(fit.draws) == len(coefs)
    assert fit.draws == pytest.approx(coefs, abs=1e-9)
    for k, ci in enumerate((fit.slope_ci, fit.intercept_ci)):
        assert ci[0] == pytest.approx(np.percentile(coefs[:, k], 2.5, method="lower"), abs=1e-9)
        assert ci[1] == pytest.approx(np.percentile(coefs[:, k], 97.5, method="higher"), abs=1e-9)


def test_effective_robustness_on_above_and_below_the_line():
    records, cats = zoo()
    result = effective_robustness(records, cats, reference="standard", n_boot=200)
    assert result.reference == list(REFERENCE_ID)
    er = result.values["imagenet-r"]
    assert er["on"] == pytest.approx(0.0, abs=1e-9)
    assert er["above"] == pytest.approx(5.0, abs=1e-9)  # percentage points
    assert er["below"] == pytest.approx(-3.0, abs=1e-9)
    assert er["far"] == pytest.approx(10.0, abs=1e-9)
    assert er[list(REFERENCE_ID)].abs().max() < 1e-9
    rows = result.per_model.set_index("model")
    assert rows.loc["far", "extrapolated"] and not rows.loc["above", "extrapolated"]
    assert rows.loc["ref0", "reference"] and not rows.loc["on", "reference"]
    assert rows.loc["above", "predicted"] == pytest.approx(100 * on_line(0.70), abs=1e-9)
    line = result.fits.set_index("ood").loc["imagenet-r"]
    assert line["slope"] == pytest.approx(SLOPE, abs=1e-9) and line["intercept"] == pytest.approx(INTERCEPT, abs=1e-9)
    assert line["stable"] and not result.warnings
    assert any("ImageNet-A" in n and "No records" in n for n in result.notes)


def test_per_model_interval_is_the_spread_of_the_bootstrap_lines():
    records, cats = zoo(RESIDUALS)
    result = effective_robustness(records, cats, reference="standard", n_boot=400, seed=3)
    fit = result.lines["imagenet-r"]
    row = result.per_model.set_index("model").loc["far"]
    x, y = 0.50, on_line(0.50) + 0.10
    predictions = 1 / (1 + np.exp(-(fit.draws[:, 0] * logit(x) + fit.draws[:, 1])))
    assert row["er_low"] == pytest.approx(100 * (y - np.percentile(predictions, 97.5, method="higher")), abs=1e-9)
    assert row["er_high"] == pytest.approx(100 * (y - np.percentile(predictions, 2.5, method="lower")), abs=1e-9)
    assert row["er_low"] < row["effective_robustness"] < row["er_high"]


def test_narrow_reference_span_is_flagged_and_wide_span_is_not():
    narrow = dict(zip(REFERENCE_ID, (0.760, 0.763, 0.766, 0.769, 0.772), strict=True))
    records, cats = zoo(RESIDUALS, narrow)
    result = effective_robustness(records, cats, reference="standard", n_boot=500)
    line = result.fits.set_index("ood").loc["imagenet-r"]
    assert not line["stable"] and line["slope_ci_width"] > 1
    assert len(result.warnings) == 1
    assert "ImageNet-R" in result.warnings[0] and "76.0-77.2 %" in result.warnings[0]
    wide = dict(zip(REFERENCE_ID, (0.50, 0.60, 0.70, 0.80, 0.85), strict=True))
    records, cats = zoo(RESIDUALS, wide)
    result = effective_robustness(records, cats, reference="standard", n_boot=500)
    assert result.fits.set_index("ood").loc["imagenet-r", "stable"] and not result.warnings


def test_bias_correlation_with_er_matches_scipy_and_the_partial_by_hand():
    records, cats = zoo(RESIDUALS)
    result = effective_robustness(records, cats, reference="standard", n_boot=100)
    models = result.values.index
    bias = pd.Series(SHAPE_BIAS)[models]
    er = result.values["imagenet-r"]
    row = result.side_by_side().set_index(["bias", "ood"]).loc[("shape_bias", "imagenet-r")]
    want = stats.spearmanr(bias, er)
    assert row["rho_er"] == pytest.approx(want.statistic, abs=1e-12)
    assert row["p_er"] == pytest.approx(want.pvalue, rel=1e-9)
    assert row["n_er"] == len(models) == 9
    # Rank-based partial correlation given ImageNet top-1, by hand: residuals of ranks on the ranks of top-1.
    rank = lambda s: stats.rankdata(s.to_numpy())  # noqa: E731
    z = rank(result.accuracies.loc[models, "imagenet_top1"])
    residual = lambda v: v - np.polyval(np.polyfit(z, v, 1), z)  # noqa: E731
    acc = result.accuracies.loc[models, "imagenet-r"]
    partial = np.corrcoef(residual(rank(bias)), residual(rank(acc)))[0, 1]
    assert row["rho_partial"] == pytest.approx(partial, abs=1e-12)
    t = partial * np.sqrt((9 - 3) / (1 - partial**2))
    assert row["p_partial"] == pytest.approx(2 * stats.t.sf(abs(t), 6), rel=1e-9)
    # One bias and one OOD set: a family of one, so Holm leaves p unchanged.
    assert row["p_holm_er"] == pytest.approx(row["p_er"], rel=1e-12)
    assert result.fits.set_index("ood").loc["imagenet-r", "rho_er_id"] == pytest.approx(
        stats.spearmanr(er, result.accuracies.loc[models, "imagenet_top1"]).statistic, abs=1e-12
    )


def test_reference_is_categories_and_models_and_unknown_names_fail_early():
    cats = pd.Series({"a": "baseline", "b": "training_recipes", "c": "augmentation", "d": "augmentation"})
    models = ["a", "b", "c", "d"]
    assert resolve_reference("baseline,training_recipes", cats, models) == ["a", "b"]
    assert resolve_reference(["augmentation", "a", "c"], cats, models) == ["c", "d", "a"]
    with pytest.raises(UnknownNameError, match="Did you mean 'augmentation'"):
        resolve_reference("augmentaton", cats, models)
    with pytest.raises(UnknownNameError, match="--categories"):
        resolve_reference("baseline", None, models)
    records, zoo_cats = zoo()
    with pytest.raises(UnknownNameError, match="axis transform"):
        effective_robustness(records, zoo_cats, reference="standard", transform="logistic")
    with pytest.raises(BiasbenchError, match="names no category"):
        effective_robustness(records, zoo_cats, reference=" , ")
    without_top1 = records[records["dataset"] != "imagenet-val"]
    with pytest.raises(BiasbenchError, match="needs ImageNet top-1"):
        effective_robustness(without_top1, zoo_cats, reference="standard")


@pytest.mark.parametrize("transform", ["probit", "linear"])
def test_other_axis_transforms_fit_in_their_own_units(transform):
    from scipy.stats import norm

    records, cats = zoo(RESIDUALS)
    result = effective_robustness(records, cats, reference="standard", transform=transform, n_boot=0)
    acc = result.accuracies.loc[list(REFERENCE_ID)] / 100
    f = {"probit": norm.ppf, "linear": lambda v: v}[transform]
    slope, intercept = np.polyfit(f(acc["imagenet_top1"]), f(acc["imagenet-r"]), 1)
    line = result.fits.set_index("ood").loc["imagenet-r"]
    assert line["slope"] == pytest.approx(slope, abs=1e-10) and line["intercept"] == pytest.approx(intercept, abs=1e-10)
    inverse = {"probit": norm.cdf, "linear": lambda v: v}[transform]
    x, y = 0.70, on_line(0.70) + 0.05
    assert result.values.at["above", "imagenet-r"] == pytest.approx(100 * (y - inverse(slope * f(x) + intercept)))


def test_reference_models_at_zero_accuracy_stay_out_of_the_line():
    records, cats = zoo(RESIDUALS)
    zero = make_records([("ref5", "accuracy", "imagenet-val", "top1", "", 0.7),
                         ("ref5", "accuracy", "imagenet-r", "top1", "", 0.0)])  # fmt: skip
    result = effective_robustness(pd.concat([records, zero]), pd.concat([cats, pd.Series({"ref5": "standard"})]),
                                  reference="standard", n_boot=0)  # fmt: skip
    assert result.fits.set_index("ood").loc["imagenet-r", "n_reference"] == 5
    assert any("ref5" in n and "stay out of the line" in n for n in result.notes)
    assert result.values.at["ref5", "imagenet-r"] < 0  # still gets an ER against the line of the others


def test_too_few_reference_models_give_a_note_not_a_line():
    records, cats = zoo()
    result = effective_robustness(records, cats, reference="ref0,ref1", n_boot=0)
    assert result.fits.empty and result.values.empty
    assert any("ImageNet-R: no line" in n for n in result.notes)
