"""Benchmark adapters on tiny fixtures with the exact real layouts (tests/fixtures_layouts.py)."""

from __future__ import annotations

import json

import pytest

from biasbench.core.errors import DatasetError
from biasbench.core.preprocessing import Preprocess
from biasbench.data.datasets import get_dataset_spec
from biasbench.data.labels.categories16 import CATEGORIES16
from biasbench.data.labels.imagenet import imagenet_wnids, real_labels, subset_wnids, wnid_to_index
from biasbench.data.pixels.transforms import BorderCropTransform, image_transform
from tests.fixtures_layouts import (
    make_imagenet_v2,
    make_imagenet_val,
    make_objectnet,
    make_stylized,
    make_wnid_folders,
)

WNIDS = imagenet_wnids()


def load(name, root):
    return get_dataset_spec(name).load(root, check_count=False)


def test_v2_folders_map_to_class_indices_not_string_order(tmp_path):
    make_imagenet_v2(tmp_path, classes=(0, 1, 2, 10, 100), per_class=2)
    ds = load("imagenet-v2", tmp_path)
    labels = [s.label for s in ds.samples]
    assert labels == [0, 0, 1, 1, 2, 2, 10, 10, 100, 100]  # a string sort would give 0, 1, 10, 100, 2
    assert all(s.path.parent.name == str(s.label) for s in ds.samples)


def test_v2_accepts_zero_padded_folders_and_rejects_others(tmp_path):
    make_imagenet_v2(tmp_path, classes=(3, 42), padded=True)
    assert [s.label for s in load("imagenet-v2", tmp_path).samples] == [3, 3, 42, 42]
    (tmp_path / "imagenetv2-matched-frequency-format-val" / "n01440764").mkdir()
    with pytest.raises(DatasetError, match="unexpected class folder"):
        load("imagenet-v2", tmp_path)


def test_v2_integrity_check_names_per_class_counts(tmp_path):
    make_imagenet_v2(tmp_path, classes=range(1000), per_class=0)  # no images: count mismatch
    with pytest.raises(DatasetError, match="10000"):
        get_dataset_spec("imagenet-v2").load(tmp_path)


def test_val_labels_come_from_wnid_index(tmp_path):
    make_imagenet_val(tmp_path, {WNIDS[5]: [1, 2], WNIDS[999]: [3]})
    ds = load("imagenet-val", tmp_path)
    assert [s.label for s in ds.samples] == [5, 5, 999]
    with pytest.raises(DatasetError, match="50000"):
        get_dataset_spec("imagenet-val").load(tmp_path)


def test_val_per_class_check(tmp_path, monkeypatch):
    spec = get_dataset_spec("imagenet-val")
    make_imagenet_val(tmp_path, {WNIDS[0]: [1, 2], WNIDS[1]: [3]})
    monkeypatch.setattr(type(spec), "expected_count", 3)
    monkeypatch.setattr(type(spec), "expected_classes", 2)
    with pytest.raises(DatasetError, match="images per class"):
        spec.load(tmp_path)
    monkeypatch.setattr(type(spec), "per_class", None)
    assert len(spec.load(tmp_path)) == 3


def test_real_labels_by_file_number(tmp_path):
    real = real_labels()
    assert len(real) == 50_000 and sum(1 for r in real if r) == 46_837
    # image 1 has an empty ReaL set; image 2's set is {970, 795}
    make_imagenet_val(tmp_path, {WNIDS[65]: [1], WNIDS[970]: [2]})
    ds = load("imagenet-real", tmp_path)
    assert [s.meta["real"] for s in ds.samples] == [(), (970, 795)]
    assert ds.spec.label_space == "imagenet-real"


def test_imagenet_a_and_r_label_ImageNet_indices_and_reject_other_classes(tmp_path):
    a = subset_wnids("a")
    make_wnid_folders(tmp_path / "imagenet-a", a[:3])
    ds = load("imagenet-a", tmp_path)
    assert sorted({s.label for s in ds.samples}) == sorted(wnid_to_index()[w] for w in a[:3])
    non_a = next(w for w in WNIDS if w not in set(a))
    make_wnid_folders(tmp_path / "imagenet-a", [non_a])
    with pytest.raises(DatasetError, match=non_a):
        load("imagenet-a", tmp_path)
    r = subset_wnids("r")
    make_wnid_folders(tmp_path / "imagenet-r", r[-2:])
    assert load("imagenet-r", tmp_path).spec.label_space == "imagenet-r-200"


def test_val_on_a_classes_keeps_only_the_200(tmp_path):
    a = subset_wnids("a")
    other = next(w for w in WNIDS if w not in set(a))
    make_imagenet_val(tmp_path, {a[0]: [1, 2], other: [3], a[1]: [4]})
    ds = load("imagenet-val-a-classes", tmp_path)
    assert [s.path.parent.name for s in ds.samples] == [a[0], a[0], a[1]]
    assert ds.spec.label_space == "imagenet-a-200"


def test_sketch_layout(tmp_path):
    make_wnid_folders(tmp_path / "imagenet-sketch" / "sketch", WNIDS[:2], suffix=".JPEG")
    ds = load("imagenet-sketch", tmp_path)
    assert [s.label for s in ds.samples] == [0, 0, 1, 1]


def test_stylized_category_from_file_name(tmp_path):
    make_stylized(tmp_path, ["bicycle", "oven"], per_class=2)
    ds = load("stylized", tmp_path)
    idx = {c: i for i, c in enumerate(CATEGORIES16)}
    assert sorted(s.label for s in ds.samples) == [idx["bicycle"]] * 2 + [idx["oven"]] * 2
    assert ds.spec.resize_policy == "native" and ds.spec.label_space == "categories16"


def test_objectnet_mapping_and_border_crop(tmp_path):
    folder = make_objectnet(tmp_path)
    ds = load("objectnet", tmp_path)
    # air_freshener has no ImageNet counterpart and is left out; classes are the sorted overlapping folders
    assert [(s.path.parent.name, s.label) for s in ds.samples] == [("alarm_clock", 0)] * 2 + [("banana", 1)] * 2
    t = image_transform(ds, Preprocess((8, 8), 1.0))
    assert isinstance(t, BorderCropTransform) and t.border == 2 and t.key["border"] == 2
    assert tuple(t(ds.samples[0].path).shape) == (3, 8, 8)
    native = BorderCropTransform("native", Preprocess(), 2)
    assert tuple(native(ds.samples[0].path).shape) == (3, 8, 8)  # 12 px minus 2 px on each side
    # a hand-written mapping file wins over the shipped ones
    (folder / "mappings" / "objectnet_to_imagenet_wnids.json").write_text(json.dumps({"banana": ["n07753592"]}))
    assert {s.path.parent.name for s in load("objectnet", tmp_path).samples} == {"banana"}


def test_missing_dataset_names_layout_and_how_to_obtain(tmp_path):
    with pytest.raises(DatasetError) as e:
        get_dataset_spec("imagenet-r").load(tmp_path)
    assert "imagenet-r/<wnid>" in str(e.value) and "hendrycks" in str(e.value)
