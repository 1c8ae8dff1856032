"""Reproduction from the released data (skipped when BIASBENCH_DATA lacks them). Reference values are
computed here independently, with pandas + scipy straight from the CSV, or quoted from METHODS.md."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import typer
from scipy import stats
from typer.testing import CliRunner

from biasbench.analysis.released import benchmark_records, criticality_records, read_categories
from biasbench.commands.analysis import register
from biasbench.report.reproduce import reproduce_gavrikov2024, reproduce_layer_criticality

pytestmark = pytest.mark.realdata
BVG = ("biases-vs-generalization", "benchmark.csv", "r50_categories.json")
LC = ("layer-criticality", "results.csv", "r50_categories.json")


def _independent(folder):
    """Scores and biases of the 48 models computed directly from benchmark.csv (METHODS §3.3, §5.3)."""
    cats = json.loads((folder / "r50_categories.json").read_text())
    ids = [m for members in cats.values() for m in members]
    csv = pd.read_csv(folder / "benchmark.csv").set_index("model").loc[ids]
    col = lambda *names: csv[[f"top1_acc/{n}" for n in names]].mean(axis=1)  # noqa: E731
    lfc = [c for c in csv.columns if c.startswith("metric/bandpass/LFC/") and 0.1 <= float(c.split("/")[-1]) <= 0.5]
    return (
        csv,
        {
            "id": col("imagenet", "imagenet-v2", "imagenet-real"),
            "robustness": col("imagenet-a", "imagenet-c", "imagenet-cbar"),
            "concepts": col("imagenet-sketch", "imagenet-r", "stylized"),
            "adversarial": csv["top1_acc/PGD-40/low"],
            "shape_bias": csv["shape-bias"],
            "low_freq_bias": csv[lfc].mean(axis=1),
            "bandwidth": csv["metric/criticalband/bw_norm"],
        },
        [m for m in ids if m in cats["adversarial_training"]],
    )


def test_tv_resnet50_baseline_numbers(released):
    folder = released(*BVG)
    result = reproduce_gavrikov2024(folder, n_boot=0, n_perm=0)
    a = result.analysis
    assert len(a.scores) == 48
    assert a.scores.loc["tv_resnet50", ["id", "robustness", "concepts", "adversarial"]].round(2).tolist() == [
        75.26,
        26.95,
        32.46,
        18.39,
    ]  # fmt: skip  (METHODS §5.3)
    assert a.biases.at["tv_resnet50", "low_freq_bias"] == pytest.approx(0.633, abs=5e-4)  # §3.4
    assert a.biases.at["tv_resnet50", "high_freq_bias"] == pytest.approx(0.0069, abs=5e-5)
    assert a.biases.at["tv_resnet50", "shape_bias"] == pytest.approx(0.2146, abs=5e-5)  # §2.7
    assert a.biases.at["tv_resnet50", "bandwidth"] == pytest.approx(5.67, abs=5e-3)  # §4.6

    csv, ref, at_models = _independent(folder)
    other = [m for m in csv.index if m not in at_models]
    corr = a.correlations.set_index(["bias", "benchmark", "subset", "method", "control"])
    for bias in ("shape_bias", "low_freq_bias", "bandwidth"):
        for bench in ("id", "robustness", "concepts", "adversarial"):
            for subset, models in (("total", list(csv.index)), ("at", at_models), ("other", other)):
                want = stats.spearmanr(ref[bias][models], ref[bench][models])
                got = corr.loc[(bias, bench, subset, "spearman", "none")]
                assert got["rho"] == pytest.approx(want.statistic, abs=1e-12)
                assert got["p"] == pytest.approx(want.pvalue, rel=1e-9)
                assert got["rho_masked"] == pytest.approx(want.statistic if want.pvalue < 0.05 else 0.0, abs=1e-12)
    # A few masked cells of the study's tables (poster layout, 2 decimals).
    tables = {k: v.round(2) for k, v in result.tables.items()}
    assert tables["total"].at["shape_bias", "id"] == -0.76
    assert tables["total"].at["high_freq_bias", "robustness"] == 0.79
    assert tables["at"].at["low_freq_bias", "id"] == -0.99
    assert tables["other"].at["shape_bias", "concepts"] == 0.41
    assert tables["total"].at["center_frequency", "id"] == 0.0  # p >= 0.05 shown as 0


def test_cli_reproduce_gavrikov2024_prints_tables(released):
    folder = released(*BVG)
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(
        app,
        ["reproduce", "gavrikov2024", "--data", str(folder), "--n-boot", "0", "--method", "spearman", "--n-perm", "9"],
    )
    assert result.exit_code == 0, result.output
    assert "Spearman rho, total (n=48" in result.output and "Spearman rho, at (n=15" in result.output
    assert "Out-of-sample R² (permutation p), LOMO, n=48" in result.output and "LOCO, n=48" in result.output


def test_joint_prediction_on_the_48_models_matches_sklearn(released):
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LinearRegression
    from sklearn.model_selection import LeaveOneGroupOut, LeaveOneOut, cross_val_predict

    folder = released(*BVG)
    a = reproduce_gavrikov2024(folder, n_boot=0, n_perm=99, methods=("spearman",)).analysis
    summary = a.explained.summary.set_index(["target", "features", "regressor", "scheme"])
    x, top1 = a.biases.to_numpy(), a.scores[["imagenet_top1"]].to_numpy()
    groups = pd.factorize(a.categories.reindex(a.scores.index))[0]
    for target in ("id", "robustness", "concepts", "adversarial"):
        y = a.scores[target].to_numpy()
        for features, design in (("biases", x), ("top1", top1)):
            for scheme, cv in (("lomo", LeaveOneOut()), ("loco", LeaveOneGroupOut())):
                pred = cross_val_predict(
                    LinearRegression(), design, y, cv=cv, groups=groups if scheme == "loco" else None
                )
                r2 = 1 - ((y - pred) ** 2).sum() / ((y - y.mean()) ** 2).sum()
                assert summary.loc[(target, features, "ols", scheme), "r2"] == pytest.approx(r2, abs=1e-9)
    assert (summary["n_models"] == 48).all() and (summary.xs("loco", level="scheme")["n_folds"] == 7).all()
    # The LOMO R² of the biases alone that the README quotes (OLS / ridge / rank).
    quoted = {"id": (0.784, 0.799, 0.721), "robustness": (0.662, 0.645, 0.858),
              "concepts": (0.209, 0.064, 0.083), "adversarial": (0.661, 0.662, 0.532)}  # fmt: skip
    for target, values in quoted.items():
        for reg, value in zip(("ols", "ridge", "rank"), values, strict=True):
            assert summary.loc[(target, "biases", reg, "lomo"), "r2"] == pytest.approx(value, abs=5e-4)


@pytest.mark.slow
def test_joint_prediction_with_1000_permutations_is_fast(released):
    import time

    from biasbench.analysis.explain import explain

    folder = released(*BVG)
    a = reproduce_gavrikov2024(folder, n_boot=0, n_perm=0, methods=("spearman",)).analysis
    start = time.process_time()
    result = explain(a.scores, a.biases, a.categories, n_perm=1000, n_boot=0, seed=0)
    assert time.process_time() - start < 60  # CPU seconds, so other load on the machine does not count
    assert (result.summary["n_perm"] == 1000).all() and result.summary["p_perm"].min() == pytest.approx(1 / 1001)


def test_paper_values_sit_under_compat_names_only(released):
    """benchmark.csv's ReaL and PGD columns are the study's buggy values (METHODS §5.1-5.2): they must never
    appear under the canonical metric names, so the canonical scores that need them are missing."""
    from biasbench.analysis.scores import generalization_scores
    from biasbench.analysis.specs import PAPER_SCORES

    folder = released(*BVG)
    csv, ref, _ = _independent(folder)
    records = benchmark_records(folder / "benchmark.csv", read_categories(folder / "r50_categories.json").index)
    keys = set(zip(records["probe"], records["dataset"], records["metric"], strict=True))
    assert ("accuracy", "imagenet-real", "top1") not in keys
    assert ("adversarial", "imagenet-val", "robust_accuracy") not in keys
    real = records.query("metric == 'top1_compat_last_batch'").set_index("model")["value"]
    pgd = records.query("metric == 'robust_accuracy_compat_denominator'").set_index("model")["value"]
    assert (real * 100).to_dict() == pytest.approx(csv["top1_acc/imagenet-real"].to_dict())
    assert (pgd * 100).to_dict() == pytest.approx(csv["top1_acc/PGD-40/low"].to_dict())
    canonical = generalization_scores(records).values
    assert canonical["id"].isna().all() and canonical["adversarial"].isna().all()
    assert canonical["concepts"].notna().all()
    paper = generalization_scores(records, PAPER_SCORES).values
    for score in ("id", "robustness", "concepts", "adversarial"):
        assert paper[score].to_dict() == pytest.approx(ref[score].to_dict(), abs=1e-9)
    # the spectral biases are records too, made by the spectral probe's own formula
    lfb = records.query("metric == 'low_freq_bias'").set_index("model")["value"]
    assert lfb.to_dict() == pytest.approx(ref["low_freq_bias"].to_dict(), abs=1e-12)


def test_records_conversion_keeps_float_cutoffs(released):
    folder = released(*BVG)
    records = benchmark_records(folder / "benchmark.csv", read_categories(folder / "r50_categories.json").index)
    assert "lowpass/0.3" in set(records["condition"])
    assert records["model"].nunique() == 48


def test_layer_criticality_reference_numbers(released, tmp_path):
    folder = released(*LC)
    raw = pd.read_csv(folder / "results.csv")
    want = (1 - raw.groupby(["model_id", "layer"]).pred_cos_sim.mean()).groupby("model_id").mean() * 100
    records = criticality_records(folder / "results.csv")
    assert set(records.query("probe == 'criticality'")["condition"]) >= {"conv1", "layer3.0.conv1", "fc"}
    app = typer.Typer()
    register(app)
    cli = CliRunner().invoke(
        app, ["reproduce", "layer-criticality", "--data", str(folder), "--out", str(tmp_path), "--n-boot", "0"]
    )
    assert cli.exit_code == 0, cli.output
    table = pd.read_csv(tmp_path / "model_criticality.csv").set_index("model")
    assert list(table.columns) == ["category", "mean_criticality"]
    assert len(table) == 51
    assert table.at["tv_resnet50", "mean_criticality"] == pytest.approx(70.0, abs=0.05)  # METHODS §11.8
    pd.testing.assert_series_equal(table["mean_criticality"], want.reindex(table.index), check_names=False)
    assert (tmp_path / "figures" / "criticality_heatmap.png").is_file()
    assert (tmp_path / "figures" / "criticality_heatmap.svg").is_file()
    result = reproduce_layer_criticality(folder, n_boot=0)
    assert result.matrix.shape == (51, 54)
    # stages as the criticality probe assigns them (timm's ResNet groups), in network order
    assert list(result.per_stage.columns) == ["conv1", "layer1", "layer2", "layer3", "layer4", "fc"]
    assert result.matrix.columns[0] == "conv1" and result.matrix.columns[-1] == "fc"
    assert list(result.matrix.columns[1:4]) == ["layer1.0.conv1", "layer1.0.conv2", "layer1.0.conv3"]
    per_layer = (1 - raw.groupby(["model_id", "layer"]).pred_cos_sim.mean()) * 100
    stage = per_layer.index.get_level_values("layer").str.extract(r"model\.(layer\d|conv1|fc)")[0].to_numpy()
    want_stage = per_layer.groupby([per_layer.index.get_level_values("model_id"), stage]).mean().unstack()
    pd.testing.assert_frame_equal(
        result.per_stage, want_stage.loc[result.per_stage.index, result.per_stage.columns], check_names=False
    )
    corr = result.accuracy_correlation.set_index(["models", "method"])
    assert corr.at[("all", "spearman"), "n"] == 51 and corr.at[("without_at", "spearman"), "n"] == 36
