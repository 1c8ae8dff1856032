"""Shared fixtures: the real data root (skipping when absent), generated datasets with the exact real
layouts (tiny images, full counts) and tiny random models."""

from __future__ import annotations

import csv
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
    from biasbench.data.categories16 import CATEGORIES16

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
