"""``download_dataset``: public archives declared on the spec; datasets without one explain how to get them."""

from __future__ import annotations

import pytest

from biasbench.core.errors import DatasetError
from biasbench.data.catalogue.downloads import download_dataset
from biasbench.data.datasets import get_dataset_spec


def test_download_without_public_archive_explains(tmp_path):
    with pytest.raises(DatasetError, match="image-net.org"):
        download_dataset("imagenet-val", tmp_path)


def test_public_datasets_declare_their_archives():
    assert [d.into for d in get_dataset_spec("imagenet-c").downloads] == ["imagenet-c"] * 5
    assert get_dataset_spec("imagenet-a").downloads[0].url.endswith("imagenet-a.tar")
    assert get_dataset_spec("imagenet-val").downloads == ()
