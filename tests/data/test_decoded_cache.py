import multiprocessing
import os

import pandas as pd
import pytest
import torch

import biasbench
from biasbench.core.errors import CorruptImageError
from biasbench.core.preprocessing import Preprocess
from biasbench.data.datasets import get_dataset_spec
from biasbench.data.pixels.decoded_cache import cache_key, decoded_cache
from biasbench.data.pixels.images import ImageTransform
from biasbench.engine import Engine, EngineConfig
from biasbench.probes.outputs import feed_of
from tests.conftest import TINY_MODEL, make_cue_conflict, make_imagenet_sample

MODEL_TRANSFORM = ImageTransform("model", Preprocess((20, 20), 0.875, "bicubic"))


@pytest.fixture()
def root(tmp_path):
    make_imagenet_sample(tmp_path / "data", count=23)
    return tmp_path / "data"


def _dataset(root, limit=None, check_count=False):
    return get_dataset_spec("imagenet-sample").load(root, check_count=check_count).head(limit)


def _collect(engine, dataset, transform, skipped=None):
    feed = feed_of(engine, dataset, transform)
    out = [(b.indices.clone(), b.images.clone(), b.labels.clone()) for b in engine.batches(feed)]
    if skipped is not None:
        skipped.extend(feed.skipped)
    return [torch.cat(parts) for parts in zip(*out, strict=True)]


@pytest.mark.parametrize("batch_size", [4, 7])
def test_cached_batches_are_bit_identical(root, tmp_path, batch_size):
    dataset = _dataset(root)
    plain = Engine(EngineConfig(progress=False, batch_size=batch_size, num_workers=0))
    cached = Engine(
        EngineConfig(
            progress=False, batch_size=batch_size, num_workers=0, cache=True, cache_dir=str(tmp_path / "cache")
        )
    )
    expected = _collect(plain, dataset, MODEL_TRANSFORM)
    for _ in range(2):  # the first pass builds the entry, the second reads it
        got = _collect(cached, dataset, MODEL_TRANSFORM)
        for a, b in zip(expected, got, strict=True):
            assert a.dtype == b.dtype and torch.equal(a, b)
    assert expected[1].shape == (23, 3, 20, 20)
    assert len([p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")]) == 1


def test_native_resolution_with_mixed_sizes_matches(tmp_path):
    make_cue_conflict(tmp_path / "data", size=16)
    dataset = get_dataset_spec("cue-conflict").load(tmp_path / "data").head(40)
    transform = ImageTransform("native", Preprocess())
    config = dict(progress=False, batch_size=16, num_workers=0)
    expected = _collect(Engine(EngineConfig(**config)), dataset, transform)
    got = _collect(Engine(EngineConfig(**config, cache=True, cache_dir=str(tmp_path / "c"))), dataset, transform)
    assert all(torch.equal(a, b) for a, b in zip(expected, got, strict=True))
    assert got[1].shape == (40, 3, 16, 16)


def test_key_changes_with_file_content_and_preprocessing(root, tmp_path):
    dataset = _dataset(root, limit=5)
    key = cache_key(dataset, MODEL_TRANSFORM)
    first = decoded_cache(dataset, MODEL_TRANSFORM, tmp_path / "c", progress=False)
    assert cache_key(dataset, ImageTransform("model", Preprocess((24, 24)))) != key
    assert cache_key(_dataset(root, limit=4), MODEL_TRANSFORM) != key
    # Rewrite one image in place (same name): the entry is invalidated and the new pixels are served.
    path = dataset.samples[2].path
    from PIL import Image

    Image.new("RGB", (30, 30), (255, 0, 0)).save(path)
    os.utime(path, ns=(1, 1))
    changed = _dataset(root, limit=5)
    assert cache_key(changed, MODEL_TRANSFORM) != key
    second = decoded_cache(changed, MODEL_TRANSFORM, tmp_path / "c", progress=False)
    assert second.folder != first.folder
    _, images, _ = next(second.batches(changed, 5, skip_corrupt=False))
    assert images[2, 0].eq(254).logical_or(images[2, 0].eq(255)).all() and images[2, 1].max() <= 1
    _, old, _ = next(first.batches(dataset, 5, skip_corrupt=False))
    assert not torch.equal(old[2], images[2]) and torch.equal(old[:2], images[:2])


def _build_in_process(args):
    root, cache_dir = args
    entry = decoded_cache(_dataset(root), MODEL_TRANSFORM, cache_dir, progress=False)
    return str(entry.folder), next(entry.batches(_dataset(root), 23, False))[1].sum().item()


def test_concurrent_builders_agree(root, tmp_path):
    cache_dir = tmp_path / "shared-cache"
    with multiprocessing.get_context("fork").Pool(3) as pool:
        results = pool.map(_build_in_process, [(root, cache_dir)] * 3)
    assert len({r[0] for r in results}) == 1 and len({r[1] for r in results}) == 1
    entries = [p.name for p in cache_dir.iterdir() if not p.name.endswith(".lock")]
    assert entries == [os.path.basename(results[0][0])]  # no temporary folder left behind


def test_corrupt_image_error_and_skip(root, tmp_path):
    bad = root / "imagenet-sample-images" / "images" / "n00000002_class2.JPEG"
    bad.write_bytes(b"\xff\xd8 this is not a jpeg")
    dataset = _dataset(root, limit=9)
    config = dict(progress=False, batch_size=4, num_workers=0, cache_dir=str(tmp_path / "c"))
    messages = []
    for cache in (False, True):
        with pytest.raises(CorruptImageError) as e:
            _collect(Engine(EngineConfig(**config, cache=cache)), dataset, MODEL_TRANSFORM)
        messages.append(str(e.value))
    assert messages[0] == messages[1] and str(bad) in messages[1]
    skipped = {False: [], True: []}
    results = {
        c: _collect(Engine(EngineConfig(**config, cache=c, on_corrupt="skip")), dataset, MODEL_TRANSFORM, skipped[c])
        for c in (False, True)
    }
    assert skipped[False] == skipped[True] == [str(bad)]
    assert results[True][0].tolist() == [0, 1, 3, 4, 5, 6, 7, 8]
    assert all(torch.equal(a, b) for a, b in zip(results[False], results[True], strict=True))


def test_run_with_cache_gives_the_same_records(generated_root, tmp_path):
    kwargs = dict(data_root=generated_root, limit=6, report=lambda m: None)
    plain = biasbench.run(
        [TINY_MODEL], ["accuracy"], tmp_path / "a", engine=EngineConfig(progress=False, batch_size=5), **kwargs
    )
    cached = biasbench.run(
        [TINY_MODEL, TINY_MODEL + "&seed=1"],
        ["accuracy"],
        tmp_path / "b",
        engine=EngineConfig(progress=False, batch_size=5, cache=True, cache_dir=str(tmp_path / "c")),
        **kwargs,
    )
    pd.testing.assert_frame_equal(plain, cached[cached["model"] == TINY_MODEL].reset_index(drop=True))
    assert len(list((tmp_path / "c").glob("[!.]*"))) == 1  # two models, one decode


def test_cache_entries_keep_the_class_names_they_were_written_under():
    """A pipeline's class enters the cache key by the module path it had when the keys were first written, so
    moving the module (``data.images`` → ``data.pixels.images``) keeps every cache entry; a new subclass is keyed
    by its own path."""
    from biasbench.data.pixels.transforms import BorderCropTransform
    from biasbench.probes.resolution import SquareResizeTransform

    assert MODEL_TRANSFORM.cache_kind == "biasbench.data.images.ImageTransform"
    assert BorderCropTransform("model", Preprocess()).cache_kind == "biasbench.data.transforms.BorderCropTransform"
    assert SquareResizeTransform.cache_kind == "biasbench.probes.resolution.SquareResizeTransform"
