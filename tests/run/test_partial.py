"""Trimmed copies of known datasets: refused by default (the error says how to measure them), measured with
``--partial`` or ``--limit``, and recorded as partial in the manifest and the records."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import biasbench
from biasbench.cli import app
from biasbench.core.errors import DatasetError
from biasbench.data.labels.imagenet import imagenet_wnids
from biasbench.store import ResultsStore
from tests.conftest import TINY_MODEL, make_imagenet_sample
from tests.fixtures_layouts import make_corruptions

runner = CliRunner()


@pytest.fixture(scope="module")
def trimmed_root(tmp_path_factory):
    """imagenet-sample with 100 of its 1000 images (the full labels.csv kept, as a copy of part of it gives)."""
    root = tmp_path_factory.mktemp("trimmed")
    folder = make_imagenet_sample(root)
    for path in sorted((folder / "images").iterdir())[100:]:
        path.unlink()
    return root


def test_trimmed_copy_is_refused_with_the_way_to_measure_it(trimmed_root, tmp_path):
    result = runner.invoke(
        app, ["run", "-m", TINY_MODEL, "-p", "accuracy", "--out", str(tmp_path), "--data-root", str(trimmed_root)]
    )
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "lists 900 file(s) that are missing: line 102:" in text and "--partial" in text and "--limit N" in text
    assert not (tmp_path / "jobs").exists()


@pytest.mark.parametrize(("options", "n"), [({"partial": True}, 100), ({"limit": 20}, 20)])
def test_partial_or_limit_measures_it_and_records_it(trimmed_root, tmp_path, options, n):
    result = biasbench.run(
        [TINY_MODEL], ["accuracy"], tmp_path, data_root=trimmed_root, report=lambda _: None, **options
    )
    assert result[result.metric == "top1"].n.tolist() == [n]
    flag = result[result.metric == "partial_dataset"]
    assert flag.value.tolist() == [pytest.approx(n / 1000)] and flag.n.tolist() == [n]
    (manifest,) = ResultsStore(tmp_path).manifests()
    assert manifest["partial"].startswith(f"{trimmed_root / 'imagenet-sample-images' / 'labels.csv'} lists 900 file")


def test_complete_copy_with_partial_is_not_flagged(generated_root, tmp_path):
    result = biasbench.run(
        [TINY_MODEL], ["accuracy"], tmp_path, data_root=generated_root, limit=8, partial=True, report=lambda _: None
    )
    assert "partial_dataset" not in set(result.metric)
    assert json.loads(next((tmp_path / "jobs").glob("*.json")).read_text())["partial"] is None


def test_one_imagenet_c_corruption_is_a_partial_set(tmp_path):
    make_corruptions(tmp_path / "imagenet-c", ["fog"], ["1", "2", "3", "4", "5"], imagenet_wnids()[:2])
    with pytest.raises(DatasetError, match="missing corruptions: gaussian_noise"):
        biasbench.run([TINY_MODEL], ["corruption"], tmp_path / "o", datasets=["imagenet-c"], data_root=tmp_path)
    result = biasbench.run(
        [TINY_MODEL],
        ["corruption"],
        tmp_path / "o",
        datasets=["imagenet-c"],
        data_root=tmp_path,
        partial=True,
        report=lambda _: None,
    )
    metrics = set(result.metric)
    assert "mean_accuracy_subset" in metrics and "mean_accuracy" not in metrics
    flag = result[result.metric == "partial_dataset"]
    assert flag.value.tolist() == [pytest.approx(10 / 4_750_000)] and flag.n.tolist() == [10]
