"""The ranking-based shape bias beside the 16-class ratio: the per-model table from records, the preference
RB_S / (RB_S + RB_T), the Spearman correlation across models (scipy) and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from biasbench.analysis.ranking_bias import ranking_bias_table, ranking_vs_ratio
from biasbench.store import ResultsStore

from .conftest import make_records

SHAPE_BIAS = [0.2, 0.35, 0.3, 0.8, 0.55]
SHAPE_BIAS_MRR = [0.25, 0.3, 0.4, 0.7, 0.6]
RB_S = [0.1, 0.2, 0.15, 0.5, 0.3]
RB_T = [0.4, 0.3, 0.35, 0.2, 0.3]


def _records() -> pd.DataFrame:
    rows = []
    for i, model in enumerate(f"m{k}" for k in range(5)):
        rows += [
            (model, "shape-bias", "cue-conflict", "shape_bias", "", SHAPE_BIAS[i]),
            (model, "shape-bias", "cue-conflict", "shape_bias_mrr", "", SHAPE_BIAS_MRR[i]),
            (model, "shape-bias", "cue-conflict", "shape_mrr", "", SHAPE_BIAS_MRR[i] / 4),
            (model, "shape-bias", "cue-conflict", "texture_mrr", "", 0.1),
            (model, "refined-bias", "refined-bias-shape", "mrr", "", RB_S[i]),
            (model, "refined-bias", "refined-bias-shape", "mrr", "class/clock", 0.9),
            (model, "accuracy", "imagenet-val", "top1", "", 0.7),
        ]
        if model != "m4":  # one model without the texture set: no preference
            rows.append((model, "refined-bias", "refined-bias-texture", "mrr", "", RB_T[i]))
    return make_records(rows)


def test_table_and_correlation_across_models():
    table = ranking_bias_table(_records())
    assert list(table.index) == [f"m{k}" for k in range(5)]
    np.testing.assert_allclose(table["shape_bias"], SHAPE_BIAS)
    np.testing.assert_allclose(table["rb_shape_mrr"], RB_S)  # the per-class rows are not the set's MRR
    expected = [s / (s + t) for s, t in zip(RB_S[:4], RB_T[:4], strict=True)]
    np.testing.assert_allclose(table["rb_shape_preference"].iloc[:4], expected)
    assert np.isnan(table.loc["m4", "rb_shape_preference"])
    corr = ranking_vs_ratio(table, n_boot=300).set_index("benchmark")
    rho, p = stats.spearmanr(SHAPE_BIAS, SHAPE_BIAS_MRR)
    assert corr.loc["shape_bias_mrr", "rho"] == pytest.approx(rho) and corr.loc["shape_bias_mrr", "n"] == 5
    assert corr.loc["shape_bias_mrr", "p"] == pytest.approx(p)
    rho4, _ = stats.spearmanr(SHAPE_BIAS[:4], expected)
    assert corr.loc["rb_shape_preference", "rho"] == pytest.approx(rho4) and corr.loc["rb_shape_preference", "n"] == 4
    assert (corr["ci_low"] <= corr["rho"]).all() and (corr["rho"] <= corr["ci_high"]).all()


def test_cli_prints_and_writes(tmp_path):
    from biasbench.cli import app

    records = _records()
    for model, part in records.groupby("model"):
        for (probe, dataset), rows in part.groupby(["probe", "dataset"]):
            key = f"{model}-{probe}-{dataset}"
            manifest = {"job": key, "model": model, "probe": probe, "dataset": dataset}
            ResultsStore(tmp_path).write(key, rows.assign(job=key), None, manifest)
    result = CliRunner().invoke(app, ["ranking-bias", str(tmp_path), "--n-boot", "100"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "analysis"
    assert {"ranking_bias.csv", "ranking_bias_correlations.csv", "ranking_vs_ratio.png"} <= {
        p.name for p in folder.iterdir()
    }
    written = pd.read_csv(folder / "ranking_bias.csv", index_col="model")
    np.testing.assert_allclose(written["shape_bias_mrr"], SHAPE_BIAS_MRR)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(app, ["ranking-bias", str(empty)])
    assert result.exit_code == 2 and "no shape-bias or refined-bias records" in result.output, result.output
