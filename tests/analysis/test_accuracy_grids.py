"""Reading saved critical-band accuracy grids and ``biasbench critical-band-fit`` (METHODS.md §4.4–4.5)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from biasbench.analysis.accuracy_grids import CriticalBandFileError, analyse_grid, load_accuracy_grid
from biasbench.core.channel_fit import NOISE_SDS, find_thresholds
from tests.conftest import require

NETWORK_DATA = "critical-band-masking/network_data"


def _rounded(fit):
    return round(fit.bandwidth, 2), round(fit.center_frequency, 2), round(fit.peak_noise_sensitivity, 2)


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
