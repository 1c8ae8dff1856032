"""Shared fixtures: the real data root (skipping when absent), generated datasets with the exact real
layouts (tiny images, full counts) and tiny random models."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
TINY_MODEL = "timm:test_resnet?pretrained=false"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real shared data root (``BIASBENCH_DATA``, else ``../shared/data`` next to the repository): the one
    way tests find real data. Tests using it skip when it is absent and are marked ``realdata``."""
    root = Path(os.environ.get("BIASBENCH_DATA") or REPO.parent / "shared" / "data")  # empty: unset
    if not root.is_dir():
        pytest.skip(f"real data not available: {root} is not a folder; set BIASBENCH_DATA to the shared data root")
    return root


@pytest.hookimpl(tryfirst=True)  # before `-m "not realdata"` deselects
def pytest_collection_modifyitems(items):
    """Every test that needs the real data root (directly or through another fixture) is marked ``realdata``."""
    for item in items:
        if "data_root" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.realdata)


def require(root: Path, relative: str) -> Path:
    path = root / relative
    if not path.exists():
        pytest.skip(f"{relative} not found under the data root {root}")
    return path


def _noise_image(rng: np.random.Generator, size: int) -> Image.Image:
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def make_imagenet_sample(root: Path, count: int = 1000, size: int = 24) -> Path:
    """imagenet-sample layout: images/<wnid>_<name>.JPEG + labels.csv (filename,class_index)."""
    folder = root / "imagenet-sample-images"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with (folder / "labels.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["filename", "wnid", "class_index"])
        for i in range(count):
            name = f"n{i:08d}_class{i}.JPEG"
            _noise_image(rng, size + (i % 3) * 4).save(folder / "images" / name, quality=90)
            writer.writerow([name, f"n{i:08d}", i])
    return folder


def make_cue_conflict(root: Path, size: int = 16) -> Path:
    """cue-conflict layout: 16 shape folders × 80 PNGs named <shape><i>-<texture><j>.png (5 no-conflict each)."""
    from biasbench.data.labels.categories16 import CATEGORIES16

    folder = root / "cue-conflict"
    rng = np.random.default_rng(1)
    for s, shape in enumerate(CATEGORIES16):
        (folder / shape).mkdir(parents=True, exist_ok=True)
        for k in range(80):
            texture = CATEGORIES16[(s + 1 + k % 15) % 16] if k >= 5 else shape
            _noise_image(rng, size).save(folder / shape / f"{shape}{k + 1}-{texture}{k % 3 + 1}.png")
    return folder


@pytest.fixture(scope="session")
def generated_root(tmp_path_factory) -> Path:
    """A data root with both foundation datasets at full count, as tiny random images."""
    root = tmp_path_factory.mktemp("data")
    make_imagenet_sample(root)
    make_cue_conflict(root)
    return root


@pytest.fixture(scope="session")
def tiny_model():
    from biasbench.models import load_model

    return load_model(TINY_MODEL)


# Two tiny open_clip architectures (registered with open_clip's own add_model_config): a ViT and a
# ModifiedResNet image tower at 224 px (the cue-conflict stimuli's size), a one-layer text tower whose
# 16-token context keeps 80,000 ImageNet prompts cheap.
TINY_TEXT = {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}
TINY_CLIP_CONFIGS = {
    "test-clip-vit": {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 224, "layers": 2, "width": 32, "head_width": 16, "patch_size": 32},
        "text_cfg": TINY_TEXT,
    },
    "test-clip-rn": {
        "embed_dim": 16,
        "vision_cfg": {"image_size": 224, "layers": [1, 1, 1, 1], "width": 8, "patch_size": None},
        "text_cfg": TINY_TEXT,
    },
}
TINY_CLIP = "openclip:test-clip-vit?pretrained=none"


@pytest.fixture(scope="session")
def open_clip_tiny(tmp_path_factory):
    """open_clip with the tiny architectures registered (skips without the clip extra), and a folder for the
    zero-shot class embeddings shared by the session's tests (see ``zero_shot_cache``)."""
    from biasbench.core.errors import ModelLoadError
    from biasbench.models.zero_shot import import_open_clip

    try:
        open_clip = import_open_clip()
    except ModelLoadError as e:
        pytest.skip(f"needs biasbench[clip]: {e}")
    folder = tmp_path_factory.mktemp("open_clip_configs")
    for name, config in TINY_CLIP_CONFIGS.items():
        (folder / f"{name}.json").write_text(json.dumps(config))
    open_clip.add_model_config(folder)
    return open_clip


@pytest.fixture
def zero_shot_cache(open_clip_tiny, tmp_path_factory, monkeypatch) -> Path:
    """BIASBENCH_CACHE for this test: one folder per session, so class embeddings are computed once."""
    folder = tmp_path_factory.getbasetemp() / "biasbench_cache"
    folder.mkdir(exist_ok=True)
    monkeypatch.setenv("BIASBENCH_CACHE", str(folder))
    return folder
