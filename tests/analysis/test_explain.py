"""Joint prediction of generalization from biases: every number against an exact fixture or an independent
computation (hand loops, the OLS hat-matrix LOO formula, scikit-learn)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from biasbench.analysis.explain import (
    explain,
    loco_folds,
    lomo_folds,
    oos_r2,
    permutation_p,
    r2_table,
)
from biasbench.analysis.regressors import (
    ALPHAS,
    mid_ecdf,
    ols_cv,
    ols_cv_closed_form,
    rank_cv,
    ridge_cv,
    ridge_fold,
)

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import LinearRegression, Ridge  # noqa: E402
from sklearn.model_selection import LeaveOneGroupOut, LeaveOneOut, cross_val_predict  # noqa: E402


def _tables(n: int = 24, seed: int = 0, target=None):
    rng = np.random.default_rng(seed)
    models = pd.Index([f"m{i:02d}" for i in range(n)], name="model")
    biases = pd.DataFrame(rng.normal(size=(n, 3)), index=models, columns=["shape_bias", "low_freq_bias", "bandwidth"])
    top1 = rng.normal(70, 5, n)
    y = target(biases, top1, rng) if target else rng.normal(size=n)
    scores = pd.DataFrame({"id": y, "imagenet_top1": top1}, index=models)
    cats = pd.Series([f"c{i % 4}" for i in range(n)], index=models, name="category")
    return scores, biases, cats


def test_oos_r2_uses_the_full_sample_mean():
    y, y_hat = np.array([1.0, 2.0, 3.0, 6.0]), np.array([2.0, 2.0, 2.0, 2.0])
    # Σ(y-ŷ)² = 1+0+1+16 = 18; ȳ = 3, Σ(y-ȳ)² = 4+1+0+9 = 14 -> 1 - 18/14
    assert oos_r2(y, y_hat) == pytest.approx(1 - 18 / 14)
    assert oos_r2(y, np.full(4, 3.0)) == 0.0
    assert oos_r2(y, y) == 1.0


def test_permutation_p_formula():
    assert permutation_p(0.5, np.array([0.1, 0.5, 0.7, 0.2])) == pytest.approx((1 + 2) / (1 + 4))
    assert permutation_p(1.0, np.zeros(999)) == pytest.approx(1 / 1000)


def test_folds():
    assert [f.tolist() for f in lomo_folds(3)] == [[0], [1], [2]]
    assert [f.tolist() for f in loco_folds(["a", "b", "a", "c"])] == [[0, 2], [1], [3]]


def test_ols_lomo_matches_hat_matrix_and_sklearn():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(15, 3)), rng.normal(size=15)
    ours = ols_cv(x, y[:, None], lomo_folds(15))[:, 0]
    z = np.hstack([np.ones((15, 1)), x])
    h = z @ np.linalg.solve(z.T @ z, z.T)
    loo_residual = (y - h @ y) / (1 - np.diag(h))  # closed-form LOO residual e_i / (1 - h_ii)
    np.testing.assert_allclose(y - ours, loo_residual, atol=1e-10)
    oracle = cross_val_predict(LinearRegression(), x, y, cv=LeaveOneOut())
    np.testing.assert_allclose(ours, oracle, atol=1e-10)


def test_ridge_fixed_penalty_matches_sklearn_loops():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=12)
    mean, std = x.mean(0), x.std(0)
    xs = (x - mean) / std
    for alpha in (0.1, 10.0):
        choice, pred = ridge_fold(xs, y[:, None], xs[:2], np.array([alpha]))
        np.testing.assert_allclose(pred[:, 0], Ridge(alpha=alpha).fit(xs, y).predict(xs[:2]), atol=1e-10)
    # The penalty chosen is the arg-min of a hand LOO loop with sklearn's Ridge on the same fold.
    choice, _ = ridge_fold(xs, y[:, None], xs[:1], ALPHAS)
    errors = [((y - cross_val_predict(Ridge(alpha=a), xs, y, cv=LeaveOneOut())) ** 2).mean() for a in ALPHAS]
    assert choice[0] == int(np.argmin(errors))


def test_ridge_cv_never_sees_the_test_model():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(14, 2)), rng.normal(size=14)
    base = ridge_cv(x, y[:, None], lomo_folds(14))[:, 0]
    for i in (0, 7):
        x2, y2 = x.copy(), y.copy()
        x2[i], y2[i] = 1e3, -1e6  # garbage in the test model changes nothing about its own fit
        changed = ridge_cv(x2, y2[:, None], [np.array([i])])
        train = np.delete(np.arange(14), i)
        xs = (x[train] - x[train].mean(0)) / x[train].std(0)
        _, pred = ridge_fold(xs, y[train][:, None], ((x2[i] - x[train].mean(0)) / x[train].std(0))[None])
        assert changed[i, 0] == pytest.approx(pred[0, 0])
        assert base[i] != pytest.approx(changed[i, 0])  # the prediction uses the (changed) test features only


def test_rank_mid_ecdf_and_exact_monotone_target():
    assert mid_ecdf(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.5, 5.0])).tolist() == [0.125, 0.5, 1.0]
    x = np.arange(30.0)[:, None]
    y = np.exp(x[:, 0] / 10)  # monotone in the bias: ranks are linear
    pred = rank_cv(x, y[:, None], lomo_folds(30))[:, 0]
    # A held-out model lands between its two neighbours (the extremes are clipped to the training range).
    assert np.all((y[:-2] <= pred[1:-1] + 1e-12) & (pred[1:-1] <= y[2:] + 1e-12))
    assert pred[0] == pytest.approx(y[1]) and pred[-1] == pytest.approx(y[-2])
    assert stats.spearmanr(pred[1:-1], y[1:-1])[0] == pytest.approx(1.0)


def test_exact_linear_target_has_lomo_r2_one_for_ols():
    scores, biases, cats = _tables(target=lambda b, t, rng: 2.0 * b["low_freq_bias"].to_numpy() + 5.0)
    result = explain(scores, biases, cats, targets=["id"], n_perm=49, n_boot=0, seed=0)
    row = result.summary.query("features == 'biases' and regressor == 'ols' and scheme == 'lomo'").iloc[0]
    assert row["r2"] == pytest.approx(1.0, abs=1e-10)
    assert row["p_perm"] == pytest.approx(1 / 50)
    assert row["spearman"] == pytest.approx(1.0)


def test_noise_target_is_not_significant():
    scores, biases, cats = _tables(n=30, seed=5)
    result = explain(scores, biases, cats, targets=["id"], n_perm=199, n_boot=0, seed=0)
    lomo = result.summary.query("scheme == 'lomo' and features == 'biases'")
    assert (lomo["p_perm"] > 0.1).all() and (lomo["r2"] < 0.1).all()


def test_explain_matches_independent_sklearn_cv_loco_and_deltas():
    scores, biases, cats = _tables(
        n=28, seed=6, target=lambda b, t, rng: b["shape_bias"].to_numpy() + 0.1 * t + rng.normal(0, 0.5, 28)
    )
    result = explain(scores, biases, cats, targets=["id"], n_perm=19, n_boot=0, seed=0)
    s = result.summary.set_index(["features", "regressor", "scheme"])
    x, y = biases.to_numpy(), scores["id"].to_numpy()
    groups = pd.factorize(cats)[0]
    for scheme, cv in (("lomo", LeaveOneOut()), ("loco", LeaveOneGroupOut())):
        pred = cross_val_predict(LinearRegression(), x, y, cv=cv, groups=groups if scheme == "loco" else None)
        expected = 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()
        assert s.loc[("biases", "ols", scheme), "r2"] == pytest.approx(expected, abs=1e-10)
    for reg in ("ols", "ridge", "rank"):
        top = s.loc[("top1+biases", reg, "lomo")]
        assert top["delta_r2"] == pytest.approx(top["r2"] - s.loc[("top1", reg, "lomo"), "r2"])
    assert s.loc[("biases", "ols", "loco"), "n_folds"] == 4
    ols = s.loc[("biases", "ols", "lomo")]
    assert r2_table(result.summary).loc[("id", "biases"), "ols"] == f"{ols['r2']:.2f} ({ols['p_perm']:.3f})"


def test_explain_is_deterministic_and_bootstraps_contain_the_estimate():
    scores, biases, cats = _tables(n=20, seed=7, target=lambda b, t, rng: b.sum(axis=1).to_numpy())
    a = explain(scores, biases, cats, targets=["id"], n_perm=20, n_boot=200, seed=3)
    b = explain(scores, biases, cats, targets=["id"], n_perm=20, n_boot=200, seed=3)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    lomo = a.summary.query("scheme == 'lomo' and features == 'biases'")
    assert ((lomo["r2_ci_low"] <= lomo["r2"]) & (lomo["r2"] <= lomo["r2_ci_high"] + 1e-12)).all()


def test_a_number_does_not_depend_on_what_else_is_computed():
    scores, biases, cats = _tables(n=20, seed=9, target=lambda b, t, rng: b["shape_bias"].to_numpy() + 0.1 * t)
    scores["robustness"] = scores["id"][::-1].to_numpy()
    options = {"n_perm": 30, "n_boot": 50, "seed": 4}
    alone = explain(scores, biases, cats, targets=["id"], regressors=["ridge"], **options)
    both = explain(scores, biases, cats, targets=["robustness", "id"], regressors=["ols", "ridge"], **options)
    for table in ("summary", "predictions", "importance"):
        got = getattr(both, table)
        got = got[(got["target"] == "id") & (got["regressor"] == "ridge")].reset_index(drop=True)
        pd.testing.assert_frame_equal(getattr(alone, table), got)
    assert alone.summary["r2_ci_low"].notna().all() and alone.importance["coef_ci_low"].notna().all()


def test_importance_coefficients_and_drop_one():
    scores, biases, cats = _tables(
        n=30, seed=8, target=lambda b, t, rng: 3 * b["bandwidth"].to_numpy() + rng.normal(0, 0.1, 30)
    )
    result = explain(scores, biases, cats, targets=["id"], regressors=["ols"], n_perm=0, n_boot=100, seed=0)
    imp = result.importance.query("features == 'biases'").set_index("feature")
    x, y = biases.to_numpy(), scores["id"].to_numpy()
    xs, ys = (x - x.mean(0)) / x.std(0), (y - y.mean()) / y.std()
    expected = LinearRegression().fit(xs, ys).coef_
    np.testing.assert_allclose(imp.loc[list(biases.columns), "std_coef"], expected, atol=1e-10)
    full = result.summary.query("features == 'biases' and scheme == 'lomo'")["r2"].iloc[0]
    rest = biases[["shape_bias", "low_freq_bias"]].to_numpy()
    dropped = cross_val_predict(LinearRegression(), rest, y, cv=LeaveOneOut())
    r2_dropped = 1 - ((y - dropped) ** 2).sum() / ((y - y.mean()) ** 2).sum()
    assert imp.loc["bandwidth", "drop_one_delta_r2"] == pytest.approx(full - r2_dropped)
    assert imp.loc["bandwidth", "coef_ci_low"] < imp.loc["bandwidth", "std_coef"] < imp.loc["bandwidth", "coef_ci_high"]


def test_bad_inputs_are_named():
    scores, biases, cats = _tables()
    with pytest.raises(ValueError, match="unknown regressor"):
        explain(scores, biases, cats, regressors=["lasso"])
    with pytest.raises(ValueError, match="not columns"):
        explain(scores, biases, cats, targets=["nope"])
    few = explain(scores.iloc[:5], biases.iloc[:5], cats, n_perm=0, n_boot=0)
    assert few.summary.empty and any("no bias is measured for >= 8 models" in n for n in few.notes)
    sparse = scores.copy()
    sparse.iloc[5:, 0] = np.nan  # biases for all 24 models, the score for 5
    skipped = explain(sparse, biases, cats, n_perm=0, n_boot=0)
    assert skipped.summary.empty and any("id has 5 complete model(s)" in n for n in skipped.notes)


def _write_results(folder, n: int = 12):
    """A results directory holding synthetic records of ``n`` models (one job shard)."""
    from biasbench.store.results import ResultsStore

    from .conftest import synthetic_records

    records = synthetic_records(n)
    ResultsStore(folder).write("synthetic", records, None, {"key": "synthetic"})
    return records


def test_cli_explain_and_informativeness(tmp_path):
    import json

    from typer.testing import CliRunner

    from biasbench.cli import app

    _write_results(tmp_path / "res")
    result = CliRunner().invoke(app, ["explain", str(tmp_path / "res"), "--n-perm", "9", "--n-boot", "0"])
    assert result.exit_code == 0, result.output
    assert "Out-of-sample R²" in result.output and "LOMO" in result.output
    summary = pd.read_csv(tmp_path / "res" / "analysis" / "explain.csv")
    assert set(summary["regressor"]) == {"ols", "ridge", "rank"} and (summary["n_perm"] == 9).all()
    assert set(summary["target"]) == {"id", "robustness", "concepts", "adversarial"}
    args = ["explain", str(tmp_path / "res"), "--n-perm", "0", "--n-boot", "0", "--members", "--out", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    targets = set(pd.read_csv(tmp_path / "explain.csv")["target"])
    assert {"accuracy/imagenet-a/top1", "corruption/imagenet-c/mean_accuracy", "id"} <= targets
    assert "accuracy/imagenet-val/top1" not in targets  # that is the top-1 feature itself
    cats = tmp_path / "cats.json"
    cats.write_text(json.dumps({"a": [f"m{i}" for i in range(0, 12, 2)], "b": [f"m{i}" for i in range(1, 12, 2)]}))
    args = ["informativeness", str(tmp_path / "res"), "--categories", str(cats), "--n-boot", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Informativeness" in result.output
    assert (tmp_path / "res" / "analysis" / "informativeness.csv").is_file()
    missing = CliRunner().invoke(app, ["informativeness", str(tmp_path / "res")])
    assert missing.exit_code == 2 and "--categories" in missing.output


def test_report_has_explain_and_informativeness_sections(tmp_path):
    from biasbench.analysis.pipeline import analyse
    from biasbench.report.html import write_report

    records = _write_results(tmp_path / "res")
    cats = pd.Series({f"m{i}": "ab"[i % 2] for i in range(12)}, name="category")
    analysis = analyse(records, cats, n_boot=5, n_perm=9, methods=("spearman",))
    assert analysis.explained is not None and not analysis.explained.summary.empty
    assert analysis.informativeness is not None and len(analysis.informativeness) >= 2
    html = write_report(analysis, tmp_path / "report.html").read_text()
    assert 'id="explain"' in html and 'id="informativeness"' in html
    assert "explain_predicted_vs_true.png" in {p.name for p in (tmp_path / "figures").iterdir()}


@pytest.mark.parametrize("name", ["ols", "ridge", "rank"])
def test_no_regressor_uses_the_held_out_target(name):
    from biasbench.analysis.regressors import REGRESSORS

    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(16, 3)), rng.normal(size=16)
    cats = np.repeat(["a", "b", "c", "d"], 4)
    for folds in (lomo_folds(16), loco_folds(cats)):
        base = REGRESSORS[name](x, y[:, None], folds)[:, 0]
        for test in folds[:2]:
            garbage = y.copy()
            garbage[test] = 1e6  # only the held-out targets change
            pred = REGRESSORS[name](x, garbage[:, None], folds)[:, 0]
            np.testing.assert_allclose(pred[test], base[test], rtol=1e-10, atol=1e-10)


def test_closed_form_ols_cv_equals_refitting():
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2))
    for folds in (lomo_folds(20), loco_folds(np.repeat(list("abcde"), 4))):
        np.testing.assert_allclose(ols_cv_closed_form(x, y, folds), ols_cv(x, y, folds), atol=1e-10)


def test_delta_p_detects_what_biases_add_beyond_top1():
    from biasbench.analysis.explain import delta_p

    rng = np.random.default_rng(11)
    n = 30
    top1, biases = rng.normal(size=n), rng.normal(size=(n, 2))
    folds = lomo_folds(n)
    informative = top1 + 2 * biases[:, 0] + 0.1 * rng.normal(size=n)
    assert delta_p(top1, biases, informative, folds, 99, np.random.default_rng(0)) == pytest.approx(1 / 100)
    accuracy_only = top1 + 0.1 * rng.normal(size=n)
    assert delta_p(top1, biases, accuracy_only, folds, 99, np.random.default_rng(0)) > 0.1
    scores, b, cats = _tables(n=24, seed=12, target=lambda bb, t, r: t + 5 * bb["bandwidth"].to_numpy())
    summary = explain(scores, b, cats, targets=["id"], n_perm=19, n_boot=0).summary
    rows = summary[summary["features"] == "top1+biases"].set_index(["regressor", "scheme"])
    assert rows.loc[("ols", "lomo"), "p_delta"] == pytest.approx(1 / 20)
    assert rows.loc[("ridge", "lomo"), "p_delta"] != rows.loc[("ridge", "lomo"), "p_delta"]  # NaN: OLS only
