"""ImageNet-X failure factors: error ratios against the ``imagenet-x`` package's own evaluation (its
``get_factor_accuracies`` + ``error_ratio`` on prediction CSVs, and ``augment_model_predictions`` +
``compute_factor_accuracies`` on a subset read back from stored per-sample tables), the skip rule for
non-validation file names, and the bias correlations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from biasbench.analysis.failure_factors import (
    analyse_failure_factors,
    factor_error_ratios,
    imagenet_x_annotations,
    ratio_matrix,
    val_file_name,
)
from biasbench.core.errors import BiasbenchError
from biasbench.data.labels.imagenet import imagenet_wnids
from biasbench.store.results import ResultsStore

imagenet_x = pytest.importorskip("imagenet_x", reason="needs biasbench[factors] (imagenet-x)")
from imagenet_x.utils import get_annotation_path  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")


def _synthetic_predictions(files: pd.DataFrame, models: int, seed: int = 0) -> pd.DataFrame:
    """Per model a top-1 per image: right with a probability that depends on the image's factors (so the
    ratios differ from 1 and between models), otherwise a random other class."""
    annotations = imagenet_x_annotations("multi", filter_prototypes=False).set_index("file_name")
    rng = np.random.default_rng(seed)
    frames = []
    for m in range(models):
        weights = rng.uniform(-0.3, 0.3, len(imagenet_x.FACTORS))
        factors = annotations.reindex(files["file_name"])[list(imagenet_x.FACTORS)].fillna(0).to_numpy()
        p_right = np.clip(0.7 - factors @ weights / 2, 0.05, 0.95)
        right = rng.random(len(files)) < p_right
        wrong = (files["label"].to_numpy() + rng.integers(1, 1000, len(files))) % 1000
        predicted = np.where(right, files["label"], wrong)
        frames.append(files.assign(model=f"m{m}", predicted_class=predicted, predicted_probability=0.5))
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize(("which", "prototypes"), [("top", True), ("multi", True), ("top", False)])
def test_error_ratios_match_the_package_on_the_whole_val_set(tmp_path, which, prototypes):
    files = pd.read_csv(get_annotation_path() / "filename_label.csv")  # the 50,000 val file names and labels
    predictions = _synthetic_predictions(files, models=3)
    for model, part in predictions.groupby("model"):
        part[["file_name", "predicted_class", "predicted_probability"]].to_csv(tmp_path / f"{model}.csv", index=False)
    accuracies = imagenet_x.get_factor_accuracies(str(tmp_path), which_factor=which, filter_prototypes=prototypes)
    expected = imagenet_x.error_ratio(accuracies)
    table = factor_error_ratios(predictions, imagenet_x_annotations(which, filter_prototypes=prototypes))
    got = ratio_matrix(table)
    assert list(got.columns) == list(imagenet_x.FACTORS)
    pd.testing.assert_frame_equal(got, expected.loc[got.index], check_names=False, rtol=1e-12)
    average = table[table["factor"] == "average"].set_index("model")
    np.testing.assert_allclose(1 - average["error_rate"], accuracies.loc[average.index, "average"], rtol=1e-12)
    assert (average["n"] == (46110 if prototypes else 48868)).all()
    assert got.std().max() > 0.05  # the synthetic factors matter: ratios are not all ~1


def _write_job(store: ResultsStore, key: str, model: str, samples: pd.DataFrame, shape_bias: float) -> None:
    records = pd.DataFrame(
        [(model, "accuracy", "imagenet-val", "top1", "", 0.7, len(samples), np.nan, np.nan, key)],
        columns=["model", "probe", "dataset", "metric", "condition", "value", "n", "ci_low", "ci_high", "job"],
    )
    store.write(key, records, samples, {"job": key, "model": model, "probe": "accuracy", "dataset": "imagenet-val"})
    bias = records.assign(probe="shape-bias", dataset="cue-conflict", metric="shape_bias", value=shape_bias)
    manifest = {"job": f"{key}-sb", "model": model, "probe": "shape-bias", "dataset": "cue-conflict"}
    store.write(f"{key}-sb", bias.assign(job=f"{key}-sb"), None, manifest)


@pytest.fixture
def stored(tmp_path):
    """A results directory with accuracy jobs of 5 models on 1,500 val images (prototypes among them) plus 40
    images that are not val files, and a shape bias per model."""
    files = pd.read_csv(get_annotation_path() / "filename_label.csv").sample(1500, random_state=1)
    predictions = _synthetic_predictions(files, models=5, seed=2)
    wnids = imagenet_wnids()
    store = ResultsStore(tmp_path)
    others = [f"n{i:08d}_tench.JPEG" for i in range(30)] + [f"{i:040x}.jpeg" for i in range(10)]
    for m, (model, part) in enumerate(predictions.groupby("model")):
        names = [f"{wnids[c]}/{f}" for f, c in zip(part["file_name"], part["label"], strict=True)] + others
        top1 = [*part["predicted_class"], *range(40)]
        samples = pd.DataFrame({"index": range(len(names)), "file": names, "condition": "clean"})
        samples["label"] = [*part["label"], *range(40)]
        samples["topk"] = [[int(t), 1, 2, 3, 4] for t in top1]
        _write_job(store, f"job{m}", model, samples, shape_bias=0.1 + 0.15 * m)
    return tmp_path, predictions


def test_stored_predictions_match_the_package_and_skip_non_val_files(stored):
    root, predictions = stored
    result = analyse_failure_factors(root, n_boot=200)
    annotations = imagenet_x.load_annotations()
    models = {m: p[["file_name", "predicted_class", "predicted_probability"]] for m, p in predictions.groupby("model")}
    augmented = imagenet_x.augment_model_predictions(annotations, models)
    expected = imagenet_x.error_ratio(imagenet_x.compute_factor_accuracies(augmented, imagenet_x.FACTORS))
    got = result.ratios
    both = got.notna() & expected.loc[got.index, got.columns].notna()
    np.testing.assert_allclose(got.to_numpy()[both], expected.loc[got.index, got.columns].to_numpy()[both], rtol=1e-12)
    assert (got.isna() == expected.loc[got.index, got.columns].isna()).all().all()  # factors no image has
    counts = result.counts.set_index("model")
    assert (counts["stored"] == 1540).all() and (counts["not_val"] == 40).all() and (counts["val"] == 1500).all()
    n_annotated = int(annotations["file_name"].isin(predictions["file_name"].unique()).sum())
    assert (counts["annotated"] == n_annotated).all() and n_annotated < 1500  # prototypes and gaps left out
    assert (counts["label_mismatch"] == 0).all()
    assert sum("40 of 1540 stored images are not ImageNet validation files" in n for n in result.notes) == 5
    # bias x factor: Spearman of the shape bias with each factor's error ratio over the 5 models
    cell = result.correlations.set_index(["bias", "benchmark"]).loc[("shape_bias", "pose")]
    rho, p = stats.spearmanr(result.biases["shape_bias"], got["pose"])
    assert cell["rho"] == pytest.approx(rho) and cell["p"] == pytest.approx(p) and cell["n"] == 5
    assert cell["ci_low"] <= cell["rho"] <= cell["ci_high"] and "p_holm" in result.correlations


def test_val_file_names():
    assert val_file_name("n01440764/ILSVRC2012_val_00000293.JPEG") == "ILSVRC2012_val_00000293.JPEG"
    assert val_file_name("ILSVRC2012_val_00000293.jpeg") == "ILSVRC2012_val_00000293.JPEG"
    not_val = ["n01440764_tench.JPEG", "ILSVRC2012_val_293.JPEG", "x_ILSVRC2012_val_00000293.JPEG"]
    not_val += ["ILSVRC2012_train_00000293.JPEG", "ILSVRC2012_val_00000293.png"]
    assert all(val_file_name(name) is None for name in not_val)


def test_refuses_datasets_not_scored_over_1000_classes(stored):
    with pytest.raises(BiasbenchError, match="imagenet-a-200"):
        analyse_failure_factors(stored[0], dataset="imagenet-val-a-classes")
    with pytest.raises(BiasbenchError, match="top or multi|top, multi"):
        imagenet_x_annotations("all")


def test_cli_writes_tables_and_figures(stored):
    from biasbench.cli import app

    root = stored[0]
    result = CliRunner().invoke(app, ["factors", str(root), "--n-boot", "50", "--out", str(root / "out")])
    assert result.exit_code == 0, result.output
    written = ["factor_counts.csv", "factor_error_ratios.csv", "factor_error_ratios.png"]
    written += ["bias_factor_correlations.csv", "bias_factor_correlations.svg"]
    assert all((root / "out" / name).is_file() for name in written), sorted(p.name for p in (root / "out").iterdir())
    table = pd.read_csv(root / "out" / "factor_error_ratios.csv")
    assert set(table["factor"]) == {*imagenet_x.FACTORS, "average"} and table["model"].nunique() == 5


def test_shared_imagenet_sample_images_are_not_val_files(data_root):
    """The shared sample images are named by class (n01440764_tench.JPEG), and which ImageNet split they come
    from is not stated: no val id can be recovered, so every one of them is skipped."""
    labels = data_root / "imagenet-sample-images" / "labels.csv"
    if not labels.is_file():
        pytest.skip("imagenet-sample-images not under the data root")
    names = pd.read_csv(labels)["filename"]
    assert len(names) == 1000 and names.map(val_file_name).isna().all()
