"""Effective robustness as a report section, figures and CLI: on a results directory (fixture) and on the released
48-model data of Gavrikov & Keuper (2024), whose numbers are recomputed here from benchmark.csv with numpy."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import typer
from scipy import special, stats
from typer.testing import CliRunner

from biasbench.analysis.effective_robustness import effective_robustness
from biasbench.plots.effective_robustness import accuracy_ticks, bias_er_panels, line_scatter
from biasbench.report.sections.effective_robustness import effective_robustness_tables, write_effective_robustness
from biasbench.store import ResultsStore

from .test_effective_robustness import REFERENCE_ID, RESIDUALS, zoo

BVG = ("biases-vs-generalization", "benchmark.csv", "r50_categories.json")


def _app() -> typer.Typer:
    from biasbench.cli import app  # the real command group: its handler turns user errors into one line, exit 2

    return app


def test_accuracy_ticks_sit_inside_the_axis_at_transformed_positions():
    low, high = special.logit(0.55), special.logit(0.82)
    assert accuracy_ticks(low, high, "logit") == [60, 70, 80]
    assert accuracy_ticks(special.logit(0.0003), special.logit(0.2), "logit") == [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20]
    assert accuracy_ticks(special.logit(0.755), special.logit(0.805), "logit") == [76, 77, 78, 79, 80]


def test_figures_show_every_line_and_the_matrix():
    records, cats = zoo(RESIDUALS)
    result = effective_robustness(records, cats, reference="standard", n_boot=100)
    fig = line_scatter(result)
    ax = fig.axes[0]
    assert ax.get_title().startswith("ImageNet-R\nslope 1.")
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["50", "60", "70", "80"]
    assert ax.get_xticks() == pytest.approx(special.logit(np.array([0.5, 0.6, 0.7, 0.8])))
    assert len(ax.collections) >= 1 + len(REFERENCE_ID) + 4  # band + one marker per model
    matrix = bias_er_panels(result)
    texts = [t.get_text() for t in matrix.axes[0].texts]
    row = result.side_by_side().set_index("bias").loc["shape_bias"]
    assert texts[0].startswith(f"{row['rho_er']:.2f}")  # the report's heat-map convention: ρ and its CI in the cell
    assert f"[{row['ci_low_er']:.2f}, {row['ci_high_er']:.2f}]" in texts[0]
    assert [t.get_text() for t in matrix.axes[1].texts][0].startswith(f"{row['rho_partial']:.2f}")
    assert len(matrix.axes) == 3  # two heat-maps and the colour bar
    assert [t.get_text() for t in matrix.axes[0].get_xticklabels()] == ["ImageNet-R"]  # a stable line: no dagger


def test_cli_on_a_results_directory_writes_csvs_and_figures(tmp_path):
    records, cats = zoo()
    store = ResultsStore(tmp_path / "results")
    for i, (model, part) in enumerate(records.groupby("model")):
        store.write(f"job{i}", part, None, {"model": model})
    (tmp_path / "cats.json").write_text(json.dumps({c: list(m.index) for c, m in cats.groupby(cats)}))
    args = ["effective-robustness", str(tmp_path / "results"), "--reference", "standard", "--categories",
            str(tmp_path / "cats.json"), "--n-boot", "50"]  # fmt: skip
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert "Lines through the reference models (logit axes)" in result.output
    assert "Effective robustness" in result.output and "│ above               │  5.0 │" in result.output
    out = tmp_path / "results" / "analysis"
    per_model = pd.read_csv(out / "effective_robustness.csv").set_index("model")
    assert per_model.loc["above", "effective_robustness"] == pytest.approx(5.0, abs=1e-9)
    for stem in ("effective_robustness_lines", "bias_vs_effective_robustness"):
        assert (out / "figures" / f"{stem}.png").stat().st_size > 10_000 and (out / "figures" / f"{stem}.svg").exists()
    assert {"effective_robustness_lines.csv", "effective_robustness_vs_partial.csv"} <= {p.name for p in out.iterdir()}


def test_cli_needs_exactly_one_source_and_names_bad_references(tmp_path):
    result = CliRunner().invoke(_app(), ["effective-robustness"])
    assert result.exit_code == 2 and "results directory or --released" in result.output
    records, cats = zoo()
    store = ResultsStore(tmp_path)
    store.write("job", records, None, {"model": "all"})
    result = CliRunner().invoke(_app(), ["effective-robustness", str(tmp_path), "--reference", "nosuchmodel"])
    assert result.exit_code == 2 and "unknown reference category or model 'nosuchmodel'" in result.output


def test_writing_csvs_and_figures(tmp_path):
    records, cats = zoo(RESIDUALS, dict(zip(REFERENCE_ID, (0.760, 0.763, 0.766, 0.769, 0.772), strict=True)))
    result = effective_robustness(records, cats, reference="standard", n_boot=200)
    assert result.warnings[0].startswith("ImageNet-R: the 5 reference models span") and result.unstable == [
        "imagenet-r"
    ]
    written = write_effective_robustness(result, tmp_path, "figs")
    assert tmp_path / "figs" / "effective_robustness_lines.png" in written
    assert len(written) == 4 + 4  # four CSVs, two figures x (PNG, SVG)
    per_model = pd.read_csv(tmp_path / "effective_robustness.csv")
    pd.testing.assert_frame_equal(per_model, effective_robustness_tables(result)["effective_robustness"],
                                  check_dtype=False)  # fmt: skip
    matrix = bias_er_panels(result)
    assert [t.get_text() for t in matrix.axes[0].get_xticklabels()] == ["ImageNet-R †"]  # the unstable line


# ---- the released 48 ResNet-50s -------------------------------------------------------------------------------
COLUMNS = {"imagenet-v2": "imagenet-v2", "imagenet-a": "imagenet-a", "imagenet-r": "imagenet-r",
           "imagenet-sketch": "imagenet-sketch", "stylized": "stylized", "imagenet-c": "imagenet-c",
           "imagenet-cbar": "imagenet-cbar", "pgd": "PGD-40/low"}  # fmt: skip
# Effective robustness (percentage points) reported in README / CHANGES, recomputed below from the CSV.
REPORTED = {
    "resnet50_trained_on_SIN": [5.64, 2.39, 18.74, 18.76, 58.40, 25.11, 20.41, 10.32],
    "robust_resnet50_l2_eps3": [2.90, 1.87, 13.68, 8.14, 8.63, 17.16, 15.76, 56.61],
}


@pytest.fixture(scope="module")
def released_result(data_root):
    """The analysis of the released data as ``reproduce gavrikov2024`` runs it (records, categories, the
    paper's OOD numbers, 1000 bootstrap resamples, seed 0)."""
    from biasbench.analysis.released import benchmark_records, read_categories
    from biasbench.analysis.specs import PAPER_OOD_SETS

    folder = data_root / BVG[0]
    if not all((folder / f).is_file() for f in BVG[1:]):
        pytest.skip(f"released data {folder} lacks {BVG[1:]}; set BIASBENCH_DATA to the shared data root")
    categories = read_categories(folder / BVG[2])
    records = benchmark_records(folder / BVG[1], categories.index)
    return folder, effective_robustness(records, categories, ood_sets=PAPER_OOD_SETS, n_boot=1000, seed=0)


def test_released_lines_and_effective_robustness_match_numpy(released_result):
    folder, er = released_result
    cats = json.loads((folder / "r50_categories.json").read_text())
    csv = pd.read_csv(folder / "benchmark.csv").set_index("model")
    reference = cats["baseline"] + cats["training_recipes"]
    assert er.reference == reference
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    for name, column in COLUMNS.items():
        x, y = csv["top1_acc/imagenet"] / 100, csv[f"top1_acc/{column}"] / 100
        slope, intercept = np.polyfit(logit(x[reference]), logit(y[reference]), 1)
        line = er.fits.set_index("ood").loc[name]
        assert line["slope"] == pytest.approx(slope, abs=1e-9)
        assert line["intercept"] == pytest.approx(intercept, abs=1e-9)
        for model, values in REPORTED.items():
            want = 100 * (y[model] - 1 / (1 + np.exp(-(slope * logit(x[model]) + intercept))))
            assert er.values.at[model, name] == pytest.approx(want, abs=1e-6)
            assert round(er.values.at[model, name], 2) == values[list(COLUMNS).index(name)]
    r = er.fits.set_index("ood").loc["imagenet-r"]
    assert [round(r[k], 2) for k in ("slope", "slope_low", "slope_high")] == [0.97, -1.41, 1.42]
    assert [round(r[k], 2) for k in ("intercept", "intercept_low", "intercept_high")] == [-1.70, -2.33, 1.56]
    a = er.fits.set_index("ood").loc["imagenet-a"]
    assert round(a["slope"], 1) == 21.1 and a["slope_ci_width"] > 20  # nearly vertical, and not determined
    unstable = set(er.fits.loc[~er.fits["stable"], "ood"])
    assert unstable == set(COLUMNS) - {"imagenet-v2"}
    assert len(er.warnings) == 7 and er.warnings[0].startswith("ImageNet-A: the 11 reference models span")
    assert er.fits.set_index("ood").at["imagenet-v2", "rho_er_id"] == pytest.approx(-0.86, abs=5e-3)


def test_released_bias_correlations_with_er_match_scipy(released_result):
    folder, er = released_result
    table = er.side_by_side().set_index(["bias", "ood"])
    shape = pd.read_csv(folder / BVG[1]).set_index("model")["shape-bias"]
    for ood in ("imagenet-r", "imagenet-v2", "imagenet-a"):
        want = stats.spearmanr(shape[er.values.index], er.values[ood])
        assert table.loc[("shape_bias", ood), "rho_er"] == pytest.approx(want.statistic, abs=1e-12)
        assert table.loc[("shape_bias", ood), "p_er"] == pytest.approx(want.pvalue, rel=1e-9)
    strongest = table["rho_er"].abs().sort_values(ascending=False).index[:3]
    assert list(strongest) == [("shape_bias", "imagenet-r"), ("shape_bias", "imagenet-sketch"),
                               ("shape_bias", "imagenet-c")]  # fmt: skip
    assert table.loc[("shape_bias", "imagenet-r"), ["rho_er", "rho_partial"]].round(2).tolist() == [0.94, 0.75]
    assert table.loc[("shape_bias", "imagenet-v2"), ["rho_er", "rho_partial"]].round(2).tolist() == [0.76, 0.17]
    assert table.loc[("shape_bias", "imagenet-r"), "p_holm_er"] < 1e-15


def test_cli_reproduce_prints_effective_robustness(data_root):
    folder = data_root / BVG[0]
    if not (folder / BVG[1]).is_file():
        pytest.skip(f"released data {folder} lacks benchmark.csv")
    args = ["reproduce", "gavrikov2024", "--data", str(folder), "--n-boot", "0", "--method", "spearman",
            "--n-perm", "0"]  # fmt: skip
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())  # titles wrap at the table's width
    assert "Effective robustness (percentage points)" in text
    assert "Spearman rho(bias, effective robustness), n=48" in text
    args = ["effective-robustness", "--released", "--data", str(folder), "--n-boot", "100"]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Strongest bias-effective-robustness correlations" in text
    assert "warning: ImageNet-A: the 11 reference models span ImageNet top-1 76.1-80.3 %" in text
