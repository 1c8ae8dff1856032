import pytest

import biasbench
from biasbench.core.errors import DatasetError
from biasbench.engine import EngineConfig
from tests.conftest import TINY_MODEL, make_imagenet_sample


@pytest.fixture()
def root_with_corrupt(tmp_path):
    make_imagenet_sample(tmp_path)
    bad = tmp_path / "imagenet-sample-images" / "images" / "n00000002_class2.JPEG"
    bad.write_bytes(b"\xff\xd8 this is not a jpeg")
    return tmp_path, bad


def test_missing_dataset_fails_before_any_work(root_with_corrupt, tmp_path):
    root, _ = root_with_corrupt  # has imagenet-sample but no cue-conflict
    with pytest.raises(DatasetError, match="cue-conflict.*16 shape folders"):
        biasbench.run(
            [TINY_MODEL],
            ["accuracy", "shape-bias"],
            tmp_path / "out",
            data_root=root,
            limit=5,
            engine=EngineConfig(progress=False),
            report=lambda m: None,
        )
    assert not (tmp_path / "out" / "jobs").exists()


def test_corrupt_file_error_and_skip(root_with_corrupt, tmp_path):
    root, bad = root_with_corrupt
    kwargs = dict(data_root=root, limit=5, limit_mode="first", report=lambda m: None)  # the bad file is 3rd
    failed = biasbench.run(
        [TINY_MODEL, TINY_MODEL + "&seed=1"],
        ["accuracy"],
        tmp_path / "a",
        engine=EngineConfig(progress=False),
        **kwargs,
    )
    assert len(failed.summary.failed) == 2 and failed.empty
    assert str(bad) in failed.summary.failed[0][1] and "--on-corrupt skip" in failed.summary.failed[0][1]
    skipped = biasbench.run(
        [TINY_MODEL], ["accuracy"], tmp_path / "b", engine=EngineConfig(progress=False, on_corrupt="skip"), **kwargs
    )
    values = skipped.set_index("metric")
    assert values.loc["skipped_images", "value"] == 1 and values.loc["top1", "n"] == 4
    manifest = biasbench.store.ResultsStore(tmp_path / "b").manifests()[0]
    assert manifest["skipped_files"] == [str(bad)]
