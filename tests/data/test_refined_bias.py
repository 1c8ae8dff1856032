"""REFINED-BIAS's stimulus sets: the repository layout, its class groups, the download it declares and the
``refined-bias`` label space, on a small generated copy."""

from __future__ import annotations

import shutil
import zipfile

import numpy as np
import pytest
import torch

from biasbench.core.errors import DatasetError
from biasbench.data.catalogue.downloads import Download, download_dataset
from biasbench.data.datasets import get_dataset_spec, load_dataset
from biasbench.data.labels.imagenet import wnid_to_index
from biasbench.data.labels.spaces import label_space_for
from tests.fixtures_layouts import make_refined_bias


def test_layout_labels_and_groups(tmp_path):
    make_refined_bias(tmp_path, per_class=3)
    shape = load_dataset("refined-bias-shape", tmp_path)
    texture = load_dataset("refined-bias-texture", tmp_path)
    assert shape.folder == tmp_path / "REFINED-BIAS-main/refined_bias/datasets/refined_bias_shape"
    assert len(shape) == len(texture) == 30
    names = shape.spec.class_names()
    assert names[:3] == ("balloon", "book", "camera") and names[-1] == "soccer_ball"
    for s in shape.samples:  # the label is the folder's position in the sorted class list
        assert names[s.label] == s.path.parent.name and s.meta == {"cue": "shape"}
    index = wnid_to_index()
    groups = dict(zip(names, shape.spec.group_members(), strict=True))
    assert groups["clock"] == (index["n03196217"], index["n02708093"], index["n04548280"])
    assert groups["camera"] == (index["n03976467"], index["n04069434"])
    tex = dict(zip(texture.spec.class_names(), texture.spec.group_members(), strict=True))
    assert tex["elephant"] == (index["n02504458"], index["n02504013"]) and tex["zebra"] == (340,)
    assert texture.samples[0].path.name == "16x16_brain_coral_1.png"  # sorted file names within a class


def test_a_git_clone_is_found_and_bad_layouts_are_named(tmp_path):
    make_refined_bias(tmp_path, top="REFINED-BIAS")
    assert load_dataset("refined-bias-shape", tmp_path).folder.parts[-4] == "REFINED-BIAS"
    folder = tmp_path / "REFINED-BIAS/refined_bias/datasets/refined_bias_shape"
    shutil.rmtree(folder / "ipod")
    with pytest.raises(DatasetError, match="no images of ipod"):
        load_dataset("refined-bias-shape", tmp_path)
    (folder / "ipod").mkdir()
    with pytest.raises(DatasetError, match="no images of ipod"):
        load_dataset("refined-bias-shape", tmp_path)
    (folder / "lamp").mkdir()
    with pytest.raises(DatasetError, match="unexpected class folder 'lamp'"):
        load_dataset("refined-bias-shape", tmp_path)
    with pytest.raises(DatasetError, match="refined_bias_texture"):
        load_dataset("refined-bias-texture", tmp_path / "empty")


def test_declares_the_repository_archive_and_downloads_into_the_layout(tmp_path, monkeypatch):
    for name in ("refined-bias-shape", "refined-bias-texture"):
        (download,) = get_dataset_spec(name).downloads
        assert download.url == "https://github.com/PumjunKim/REFINED-BIAS/archive/refs/heads/main.zip"
        assert download.into == "." and download.sha256 == ""  # the authors publish no digest
    # the archive unpacks to REFINED-BIAS-main/...: served from a local file, fetch puts it where load looks
    source = tmp_path / "source"
    make_refined_bias(source, per_class=1)
    archive = tmp_path / "main.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(source.rglob("*.png")):
            zf.write(path, path.relative_to(source).as_posix())
    spec = type(get_dataset_spec("refined-bias-shape"))
    monkeypatch.setattr(spec, "downloads", (Download(archive.as_uri()),))
    root = tmp_path / "root"
    download_dataset("refined-bias-shape", root)
    assert len(load_dataset("refined-bias-shape", root)) == 10
    assert len(load_dataset("refined-bias-texture", root)) == 10  # one archive holds both sets


def test_label_space_counts_any_member_of_the_group_over_all_1000_classes(tmp_path):
    make_refined_bias(tmp_path, per_class=1)
    dataset = load_dataset("refined-bias-shape", tmp_path)
    space = label_space_for(dataset)
    index = wnid_to_index()
    clock = dataset.spec.class_names().index("clock")
    logits = torch.zeros(3, 1000)
    logits[0, index["n04548280"]] = 5.0  # wall clock: a clock member wins
    logits[1, index["n02708093"]], logits[1, 7] = 5.0, 6.0  # a non-member class above the analog clock
    logits[2, index["n03584254"]] = 5.0  # an iPod: another group
    out = space.outputs(logits, torch.tensor([clock] * 3), k=2)
    assert out["topk"][:, 0].tolist() == [clock, -1, dataset.spec.class_names().index("ipod")]
    samples = [s for s in dataset.samples if s.label == clock] * 3
    assert space.hits(out["topk"].numpy().astype(np.int64), samples, 1).tolist() == [True, False, False]
    assert space.hits(out["topk"].numpy().astype(np.int64), samples, 2).tolist() == [True, True, False]
