"""The ``transfer`` probe and its datasets: the split layout, sklearn digits, and end-to-end runs."""

from __future__ import annotations

import numpy as np
import pytest

from biasbench.core.errors import BiasbenchError, DatasetError
from biasbench.data.datasets import get_dataset_spec
from biasbench.engine.inference import Engine, EngineConfig
from biasbench.probes import ProbeContext, get_probe
from tests.fixtures_layouts import tiny_image

ENGINE = EngineConfig(device="cpu", batch_size=32, progress=False, num_workers=0)


@pytest.fixture(scope="module")
def digits(tmp_path_factory, monkeypatch_module):
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch_module.setenv("BIASBENCH_CACHE", str(cache))
    return get_dataset_spec("sklearn-digits").load(tmp_path_factory.mktemp("empty-root"))


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_sklearn_digits_are_written_once_with_their_labels(digits):
    from PIL import Image
    from sklearn.datasets import load_digits

    ref = load_digits()
    assert len(digits) == 1797
    splits = [s.meta["split"] for s in digits.samples]
    assert splits.count("train") == 1000 and splits.count("test") == 797
    by_index = {int(s.path.stem): s for s in digits.samples}
    for i in (0, 999, 1000, 1796):
        sample = by_index[i]
        assert sample.label == ref.target[i]
        assert sample.meta["split"] == ("train" if i < 1000 else "test")
        pixels = np.asarray(Image.open(sample.path))
        assert pixels.shape == (8, 8, 3)
        np.testing.assert_array_equal(pixels[:, :, 0], np.round(ref.images[i] * 255 / 16).astype(np.uint8))


def test_vtab_layout_and_train_count(tmp_path):
    folder = tmp_path / "vtab-1k" / "dtd"
    for split, per_class in (("train", 100), ("test", 2)):
        for c in range(10):
            for k in range(per_class):
                tiny_image(folder / split / str(c) / f"{k}.jpg", size=4)
    spec = get_dataset_spec("vtab-dtd")
    assert spec.group == "natural"
    ds = spec.load(tmp_path)
    assert len(ds) == 1020 and {s.label for s in ds.samples} == set(range(10))
    (folder / "train" / "0" / "0.jpg").unlink()
    with pytest.raises(DatasetError, match="999 training images, expected 1000"):
        spec.load(tmp_path)


def test_class_folders_sort_numerically_and_share_labels_across_splits(tmp_path):
    from biasbench.data.catalogue.downstream_tasks import split_folder_samples

    for split, names in (("train", ("2", "10")), ("test", ("10", "2", "7"))):
        for n in names:
            tiny_image(tmp_path / split / n / "a.png", size=4)
    samples = split_folder_samples(tmp_path, "layout")
    labels = {(s.meta["split"], s.path.parent.name): s.label for s in samples}
    assert labels == {("train", "2"): 0, ("train", "10"): 2, ("test", "2"): 0, ("test", "7"): 1, ("test", "10"): 2}
    (tmp_path / "test").rename(tmp_path / "val")
    with pytest.raises(DatasetError, match="test"):
        split_folder_samples(tmp_path, "layout")


def test_transfer_datasets_refuse_imagenet_probes(digits):
    from biasbench.data.labels.spaces import label_space_for

    with pytest.raises(DatasetError, match="transfer probe"):
        label_space_for(digits)


def _run(model, dataset, seed=0, **params):
    probe = get_probe("transfer").with_overrides(params)
    return probe.run(ProbeContext(model, dataset, Engine(ENGINE), seed=seed))


def test_transfer_probe_end_to_end_on_a_tiny_model(digits, tiny_model):
    out = _run(tiny_model, digits, shots=60, max_test=40)
    by = {r.metric: r for r in out.records}
    assert by["top1"].n == 40 and 0 <= by["top1"].value <= 1
    assert by["top1"].ci_low <= by["top1"].value <= by["top1"].ci_high
    assert by["alpha"].n == 60 and by["val_top1"].n == 12
    assert len(out.samples) == 40 and set(out.samples["index"]) <= {
        i for i, s in enumerate(digits.samples) if s.meta["split"] == "test"
    }
    assert (out.samples["prediction"] == out.samples["label"]).mean() == pytest.approx(by["top1"].value)
    again = _run(tiny_model, digits, shots=60, max_test=40)
    assert [r.value for r in again.records] == [r.value for r in out.records]  # deterministic


def test_transfer_probe_names_bad_requests(digits, tiny_model):
    with pytest.raises(BiasbenchError, match="shots=2000"):
        _run(tiny_model, digits, shots=2000)
    with pytest.raises(BiasbenchError, match="no test examples"):
        _run(tiny_model, digits.head(500), shots=100)
    imagenet_like = digits.__class__(get_dataset_spec("imagenet-sample"), digits.folder, digits.samples)
    with pytest.raises(DatasetError, match="downstream task"):
        _run(tiny_model, imagenet_like)


@pytest.mark.slow
@pytest.mark.realdata
def test_efficientnet_lite0_transfers_to_digits(digits):
    from biasbench.models import load_model

    out = _run(load_model("bundled:efficientnet_lite0"), digits, shots=100, max_test=60)
    top1 = {r.metric: r for r in out.records}["top1"]
    # ImageNet features separate the ten digits far above chance (0.1) with ~10 examples per class
    # (measured: 0.85 with 200 shots on 200 test images)
    assert top1.value >= 0.5 and top1.n == 60
