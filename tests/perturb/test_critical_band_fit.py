"""Threshold rule, Gaussian channel fit and saved-grid reading (METHODS.md §4.4–4.5)."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from biasbench.core.errors import BiasbenchError
from biasbench.perturb.critical_band import NOISE_SDS
from biasbench.perturb.critical_band_fit import (
    CENTRE_MARGIN,
    HUMAN_THRESHOLDS,
    CriticalBandFileError,
    analyse_grid,
    bisect_thresholds,
    find_thresholds,
    fit_channel,
    load_accuracy_grid,
    reference_accuracy,
)
from tests.conftest import require

NETWORK_DATA = "critical-band-masking/network_data"


def _rounded(fit):
    return round(fit.bandwidth, 2), round(fit.center_frequency, 2), round(fit.peak_noise_sensitivity, 2)


def test_human_group_fixture():
    fit = fit_channel(HUMAN_THRESHOLDS)
    assert _rounded(fit) == (1.00, 39.60, 1.00) and not fit.degenerate


def test_resnet50_fixture_vector():
    assert _rounded(fit_channel([0, 0, 2, 2, 3, 4, 2])) == (3.99, 39.42, 0.71)


@pytest.mark.parametrize("flat", [(4,) * 7, (0,) * 7, (2,) * 7])
def test_flat_vectors_are_degenerate_nan_not_huge_numbers(flat):
    fit = fit_channel(flat)
    assert fit.degenerate and "flat" in fit.reason
    assert all(math.isnan(v) for v in (fit.bandwidth, fit.center_frequency, fit.peak_noise_sensitivity))


def test_a_centre_outside_the_measured_bands_is_degenerate():
    # A model near chance (demo: MobileNet-v1 0.25 at 1.6 % noise-free accuracy) gives noise-level thresholds;
    # the unconstrained fit puts its "peak" at μ ≈ −50 with a bandwidth of thousands of octaves.
    fit = fit_channel((3, 3, 2, 2, 3, 4, 2))
    assert fit.degenerate and "outside the measured bands" in fit.reason
    assert math.isnan(fit.bandwidth) and math.isnan(fit.center_frequency)
    # The study's widest centre (CF 114.5 c/img, μ = 6.03) stays inside the half-band margin.
    assert math.log2(114.5 / 1.75) <= 6 + CENTRE_MARGIN
    assert not fit_channel((0, 1, 2, 3, 4, 4, 3)).degenerate  # μ ≈ 4.5


def test_non_convergence_is_flagged(monkeypatch):
    import biasbench.perturb.critical_band_fit as module

    def fail(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found")

    monkeypatch.setattr(module, "curve_fit", fail)
    fit = fit_channel([0, 1, 2, 3, 2, 1, 0])
    assert fit.degenerate and "converge" in fit.reason and math.isnan(fit.bandwidth)


def test_threshold_rule_walks_from_strongest_noise():
    grid = np.full((5, 7), 10.0)
    grid[0, :] = 90  # noise-free passes everywhere
    grid[1, 2] = 60  # band 2 passes only at σ = .02 → t = 3
    grid[4, 0] = 55  # band 0 passes even at σ = .16 → t = 0
    grid[2, 5], grid[3, 5] = 70, 20  # band 5: fails at .08, passes at .04 → t = 2
    assert find_thresholds(grid).tolist() == [0, 4, 3, 4, 4, 2, 4]
    assert find_thresholds(np.zeros((5, 7))).tolist() == [4] * 7  # nothing passes → 4
    assert find_thresholds(np.full((5, 7), 50.0)).tolist() == [4] * 7  # strictly greater than θ


def test_relative_criterion_uses_the_reference():
    grid = np.full((5, 7), 30.0)
    grid[0, :] = 40.0
    assert find_thresholds(grid, 50).tolist() == [4] * 7  # absolute: 30 % never passes
    assert find_thresholds(grid, 50, reference=40.0).tolist() == [0] * 7  # 30 > 50 % of 40
    assert reference_accuracy(grid, "noise-free") == 40.0
    assert reference_accuracy(grid, "absolute") is None
    assert reference_accuracy(grid, "clean", clean=76.0) == 76.0
    with pytest.raises(BiasbenchError, match="clean-accuracy"):
        reference_accuracy(grid, "clean")


def _monotone_grids():
    """Grids whose accuracy never rises with noise, covering every threshold per band."""
    for t in itertools.product(range(5), repeat=2):
        grid = np.full((5, 7), 20.0)
        grid[0, :] = 90
        for f in range(7):
            tf = t[f % 2] if f < 6 else 4
            for j in range(tf, 4):  # levels j ≥ t_f pass (j indexes σ from strongest)
                grid[4 - j, f] = 80
        yield grid


def test_bisection_gives_the_full_grid_thresholds_with_fewer_evaluations():
    for grid in _monotone_grids():
        asked = []

        def evaluate(cells, grid=grid, asked=asked):
            asked.extend(cells)
            return {(s, f): grid[NOISE_SDS.index(s), f] for s, f in cells}

        found = bisect_thresholds(evaluate, 50.0, lambda: None)
        assert found.tolist() == find_thresholds(grid).tolist()
        assert len(asked) < 4 * 7 and len(set(asked)) == len(asked)
        assert max(len([c for c in asked if c[1] == f]) for f in range(7)) <= 3


def test_resnet50_network_file_gives_the_fixture(data_root):
    folder = require(data_root, NETWORK_DATA)
    (path,) = sorted(folder.glob("solomon_resnet50_accuracies_*.json"))
    thresholds, fit, ref = analyse_grid(load_accuracy_grid(path))
    assert thresholds.tolist() == [0, 0, 2, 2, 3, 4, 2] and ref is None
    assert _rounded(fit) == (3.99, 39.42, 0.71)


def test_network_file_parsing_matches_manual_means(tmp_path):
    cells = {f"noise{s:g}freq{f}": [int((f + k) % 3 == 0) for k in range(6)] for s in NOISE_SDS for f in range(7)}
    path = tmp_path / "net.json"
    path.write_text(json.dumps(cells))
    grid = load_accuracy_grid(path)
    assert grid.accuracy[2, 1] == pytest.approx(100 * np.mean(cells["noise0.04freq1"]))
    pooled = np.concatenate([cells[f"noise0freq{f}"] for f in range(7)]).mean() * 100
    assert grid.noise_free == pytest.approx(pooled)
    assert grid.counts.sum() == 35 * 6


def test_matrix_json_and_csv(tmp_path):
    matrix = np.full((5, 7), 20.0)
    matrix[0] = 95
    matrix[1:, 4:6] = 80
    (tmp_path / "m.json").write_text(json.dumps(matrix.tolist()))
    (tmp_path / "w.json").write_text(json.dumps({"accuracy": matrix.tolist()}))
    header = "sigma," + ",".join(f"band{f}" for f in range(7))
    rows = [f"{s}," + ",".join(map(str, row)) for s, row in zip(NOISE_SDS, matrix, strict=True)]
    (tmp_path / "m.csv").write_text("\n".join([header, *rows]) + "\n")
    for name in ("m.json", "w.json", "m.csv"):
        grid = load_accuracy_grid(tmp_path / name)
        np.testing.assert_array_equal(grid.accuracy, matrix)
        assert find_thresholds(grid.accuracy).tolist() == [4, 4, 4, 4, 0, 0, 4]


def test_bad_files_name_the_problem(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps([[1, 2], [3, 4]]))
    with pytest.raises(CriticalBandFileError, match="5x7"):
        load_accuracy_grid(tmp_path / "bad.json")
    with pytest.raises(CriticalBandFileError, match="does not exist"):
        load_accuracy_grid(tmp_path / "missing.json")


# ---------------------------------------------------------------------------------------------- CLI


def _cli():
    from typer.testing import CliRunner

    from biasbench.cli import app

    return app, CliRunner()


def test_cli_fits_the_resnet50_file(data_root):
    (path,) = sorted(require(data_root, NETWORK_DATA).glob("solomon_resnet50_accuracies_*.json"))
    app, runner = _cli()
    result = runner.invoke(app, ["critical-band-fit", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["thresholds"] == [0, 0, 2, 2, 3, 4, 2]
    assert (round(data["bandwidth"], 2), round(data["center_frequency"], 2)) == (3.99, 39.42)
    assert round(data["peak_noise_sensitivity"], 2) == 0.71 and data["fit_degenerate"] is False
    table = runner.invoke(app, ["critical-band-fit", str(path)])
    assert table.exit_code == 0 and "3.99 octaves" in table.output and "39.42 cycles/image" in table.output


def test_cli_relative_reference_and_degenerate_matrix(tmp_path):
    matrix = np.full((5, 7), 30.0)
    matrix[0] = 40.0
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(matrix.tolist()))
    app, runner = _cli()
    absolute = json.loads(runner.invoke(app, ["critical-band-fit", str(path), "--format", "json"]).output)
    assert absolute["thresholds"] == [4] * 7 and absolute["fit_degenerate"] is True
    assert absolute["bandwidth"] is None  # NaN, never the runaway 11295 octaves
    relative = json.loads(
        runner.invoke(app, ["critical-band-fit", str(path), "--reference", "noise-free", "--format", "json"]).output
    )
    assert relative["reference_accuracy"] == 40.0 and relative["thresholds"] == [0] * 7
    clean = runner.invoke(app, ["critical-band-fit", str(path), "--reference", "clean", "--clean-accuracy", "90"])
    assert clean.exit_code == 0 and "degenerate" in clean.output  # 30 % < 45 % everywhere → flat 4s
    missing = runner.invoke(app, ["critical-band-fit", str(path), "--reference", "clean"])
    assert missing.exit_code == 2 and "--clean-accuracy" in missing.output
