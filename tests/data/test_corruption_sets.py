"""ImageNet-C / -C-bar adapters on tiny fixtures with the exact real layouts (tests/fixtures_layouts.py)."""

from __future__ import annotations

import pytest

from biasbench.core.errors import DatasetError
from biasbench.data.catalogue.corruption_sets import IMAGENET_C_CORRUPTIONS
from biasbench.data.datasets import get_dataset_spec
from biasbench.data.labels.imagenet import imagenet_wnids
from tests.fixtures_layouts import make_corruptions

WNIDS = imagenet_wnids()


def load(name, root):
    return get_dataset_spec(name).load(root, check_count=False)


def test_imagenet_c_sets_and_integrity_message(tmp_path):
    folder = make_corruptions(tmp_path / "imagenet-c", ["gaussian_noise", "fog"], ["1", "2", "3", "4", "5"], WNIDS[:2])
    ds = load("imagenet-c", tmp_path)
    assert ds.spec.resize_policy == "native"
    assert len(ds) == 2 * 5 * 2
    assert ds.samples[0].meta == {"corruption": "gaussian_noise", "severity": 1, "severity_folder": "1"}
    assert {s.meta["corruption"] for s in ds.samples} == {"gaussian_noise", "fog"}
    with pytest.raises(DatasetError, match="missing corruptions: shot_noise") as e:
        get_dataset_spec("imagenet-c").load(tmp_path)
    assert "zenodo" in str(e.value)
    assert folder.name == "imagenet-c" and len(IMAGENET_C_CORRUPTIONS) == 19


def test_cbar_parameter_folders_ranked_as_severities(tmp_path):
    make_corruptions(
        tmp_path / "imagenet-c-bar", ["plasma_noise"], ["10.00", "2.50", "0.40", "5.00", "1.20"], WNIDS[:1]
    )
    ds = load("imagenet-cbar", tmp_path)
    sev = {s.meta["severity_folder"]: s.meta["severity"] for s in ds.samples}
    assert sev == {"0.40": 1, "1.20": 2, "2.50": 3, "5.00": 4, "10.00": 5}


def test_corruption_sets_declare_their_corruptions_and_clean_sets_none():
    c, cbar, clean = (get_dataset_spec(n) for n in ("imagenet-c", "imagenet-cbar", "imagenet-val"))
    assert c.ondisk and c.corruptions == IMAGENET_C_CORRUPTIONS
    assert cbar.ondisk and len(cbar.corruptions) == 10
    assert not clean.ondisk and clean.corruptions == () and clean.border_crop == 0
    assert get_dataset_spec("objectnet").border_crop == 2
