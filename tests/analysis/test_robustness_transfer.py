"""Robustness vs transfer analysis on a supplied table: the meta table from records, the Spearman matrix and
the residual correlation (difference and OLS) against scipy computed independently."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from biasbench.analysis.robustness_transfer import (
    meta_table,
    residual_table,
    residual_transfer,
    rho_matrix,
    robustness_residual,
    spearman_matrix,
)

TABLE = pd.DataFrame(
    {
        "imagenet": [0.70, 0.75, 0.78, 0.80, 0.82, 0.85],
        "imagenet-a": [0.02, 0.05, 0.04, 0.10, 0.12, 0.20],
        "objectnet": [0.30, 0.33, 0.40, 0.38, 0.45, 0.50],
        "transfer_mean": [0.60, 0.58, 0.70, 0.66, 0.72, 0.69],
    },
    index=pd.Index([f"m{i}" for i in range(6)], name="model"),
)


def test_difference_residual_and_its_spearman_with_transfer():
    residual = robustness_residual(TABLE, ["imagenet-a", "objectnet"])
    expected = (TABLE["imagenet-a"] + TABLE["objectnet"]) / 2 - TABLE["imagenet"]
    np.testing.assert_allclose(residual, expected)
    c = residual_transfer(TABLE, ["imagenet-a", "objectnet"], n_boot=0)
    rho, p = stats.spearmanr(expected, TABLE["transfer_mean"])
    assert c.rho == pytest.approx(rho) and c.p == pytest.approx(p) and c.n == 6


def test_ols_residual_is_orthogonal_to_imagenet():
    residual = robustness_residual(TABLE, ["imagenet-a", "objectnet"], mode="ols")
    mean = TABLE[["imagenet-a", "objectnet"]].mean(axis=1)
    x = np.column_stack([np.ones(6), TABLE["imagenet"]])
    beta = np.linalg.lstsq(x, mean, rcond=None)[0]
    np.testing.assert_allclose(residual, mean - x @ beta, atol=1e-12)
    assert abs(np.dot(residual, TABLE["imagenet"] - TABLE["imagenet"].mean())) < 1e-12
    c = residual_transfer(TABLE, ["imagenet-a", "objectnet"], mode="ols", n_boot=0)
    assert c.rho == pytest.approx(stats.spearmanr(mean - x @ beta, TABLE["transfer_mean"])[0])


def test_spearman_matrix_matches_scipy_pairwise():
    pairs = spearman_matrix(TABLE, n_boot=50)
    assert len(pairs) == 6
    for row in pairs.itertuples():
        assert row.rho == pytest.approx(stats.spearmanr(TABLE[row.x], TABLE[row.y])[0])
        assert row.ci_low <= row.ci_high
    matrix = rho_matrix(pairs, TABLE.columns)
    np.testing.assert_allclose(matrix.to_numpy(), stats.spearmanr(TABLE.to_numpy()).statistic)


def test_residual_errors_name_the_problem():
    from biasbench.core.errors import BiasbenchError

    with pytest.raises(BiasbenchError, match="imagenet-r"):
        robustness_residual(TABLE, ["imagenet-r"])
    with pytest.raises(BiasbenchError, match="'difference' or 'ols'"):
        robustness_residual(TABLE, ["objectnet"], mode="partial")
    with pytest.raises(BiasbenchError, match="transfer probe"):
        residual_transfer(TABLE.drop(columns="transfer_mean"), ["objectnet"])


def _records() -> pd.DataFrame:
    rows = []
    for model, row in TABLE.iterrows():
        rows.append(("accuracy", "imagenet-val", "top1", "", row["imagenet"], model))
        rows.append(("accuracy", "imagenet-sample", "top1", "", 0.0, model))  # imagenet-val is preferred
        rows.append(("accuracy", "imagenet-a", "top1", "", row["imagenet-a"], model))
        rows.append(("accuracy", "objectnet", "top1", "", row["objectnet"], model))
        rows.append(("transfer", "vtab-dtd", "top1", "", row["transfer_mean"], model))
        rows.append(("transfer", "vtab-pets", "top1", "", row["transfer_mean"] + 0.1, model))
        rows.append(("transfer", "vtab-eurosat", "top1", "", 0.9, model))
        rows.append(("transfer", "vtab-eurosat", "alpha", "", 10.0, model))
    return pd.DataFrame(rows, columns=["probe", "dataset", "metric", "condition", "value", "model"])


def test_meta_table_from_records_with_group_means():
    table = meta_table(_records())
    assert list(table.columns) == [
        "imagenet", "imagenet-a", "objectnet", "transfer/vtab-dtd", "transfer/vtab-eurosat", "transfer/vtab-pets",
        "transfer_natural", "transfer_specialized", "transfer_mean",
    ]  # fmt: skip
    np.testing.assert_allclose(table["imagenet"], TABLE["imagenet"])
    np.testing.assert_allclose(table["transfer_natural"], TABLE["transfer_mean"] + 0.05)
    np.testing.assert_allclose(table["transfer_specialized"], 0.9)
    np.testing.assert_allclose(table["transfer_mean"], (2 * TABLE["transfer_mean"] + 0.1 + 0.9) / 3)
    result = residual_table(table, n_boot=0)
    assert set(result["residual"]) == {"difference", "ols"}
    assert set(result["transfer"]) == {"transfer_natural", "transfer_specialized", "transfer_mean"}
    constant = result[result["transfer"] == "transfer_specialized"]
    assert constant["rho"].isna().all()  # a constant transfer column has no rank correlation


def test_transfer_methods_are_kept_apart_and_duplicates_refused():
    records = _records()
    finetuned = records[(records["probe"] == "transfer") & (records["metric"] == "top1")].assign(
        condition="finetune", value=0.5
    )
    both = pd.concat([records, finetuned])
    np.testing.assert_allclose(meta_table(both)["transfer/vtab-dtd"], TABLE["transfer_mean"])  # linear by default
    np.testing.assert_allclose(meta_table(both, method="finetune")["transfer/vtab-dtd"], 0.5)
    with pytest.raises(ValueError, match="share model"):  # two jobs' records are never averaged
        meta_table(pd.concat([records, records[records["probe"] == "transfer"]]))


def _store(tmp_path, extra: list[tuple] = ()) -> str:
    from biasbench.store import ResultsStore

    from .conftest import make_records

    frame = _records()
    rows = [(m, p, d, me, c, v) for p, d, me, c, v, m in frame.itertuples(index=False)] + list(extra)
    records = make_records(rows)
    store = ResultsStore(tmp_path)
    for i, (model, part) in enumerate(records.groupby("model")):
        store.write(f"job{i}", part, None, {"model": model})
    return str(tmp_path)


def test_cli_prints_the_matrix_and_residuals_and_writes_csvs(tmp_path):
    import typer
    from typer.testing import CliRunner

    from biasbench.commands.robustness_transfer import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # two commands keep typer in sub-command mode
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["robustness-transfer", _store(tmp_path / "res"), "--out", str(out), "--n-boot",
                                      "10"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Spearman rho across models" in result.output and "Residual robustness vs transfer" in result.output
    written = pd.read_csv(out / "residual.csv")
    expected = stats.spearmanr(
        (TABLE["imagenet-a"] + TABLE["objectnet"]) / 2 - TABLE["imagenet"],
        pd.read_csv(out / "meta_table.csv", index_col=0)["transfer_mean"],
    )[0]
    row = written[(written["residual"] == "difference") & (written["transfer"] == "transfer_mean")]
    assert row["rho"].item() == pytest.approx(expected)


def test_report_has_robustness_transfer_and_resolution_sections(tmp_path):
    from biasbench.analysis.pipeline import analyse
    from biasbench.report.html import write_report
    from biasbench.store import load_results

    extra = []
    for m in TABLE.index:
        for protocol in ("naive", "bn"):
            for r, acc in ((128, 0.5), (224, 0.7), (320, 0.6)):
                extra.append((m, "resolution", "imagenet-sample", "top1", f"{protocol}/{r}", acc))
            extra.append((m, "resolution", "imagenet-sample", "best_resolution", protocol, 224.0))
    analysis = analyse(load_results(_store(tmp_path / "res", extra)), n_boot=10)
    html = write_report(analysis, tmp_path / "report.html").read_text()
    assert 'id="robustness-transfer"' in html and 'id="resolution"' in html
    assert (tmp_path / "figures" / "resolution.png").is_file()
    assert (tmp_path / "figures" / "robustness_transfer.png").is_file()
