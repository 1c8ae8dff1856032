"""Generators of tiny datasets with each benchmark's exact on-disk layout (folder names, file names, label and
mapping files), a few small images per class, for adapter tests without the real data."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

_RNG = np.random.default_rng(0)


def tiny_image(path: Path, size: int = 8) -> Path:
    """A random RGB image (JPEG or PNG by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_RNG.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
    return path


def make_imagenet_val(root: Path, files: dict[str, Sequence[int]], size: int = 8) -> Path:
    """imagenet/val/<wnid>/ILSVRC2012_val_<8 digits>.JPEG for the given {wnid: [val image numbers]}."""
    folder = root / "imagenet" / "val"
    for wnid, numbers in files.items():
        for n in numbers:
            tiny_image(folder / wnid / f"ILSVRC2012_val_{n:08d}.JPEG", size)
    return folder


def make_imagenet_v2(root: Path, classes: Iterable[int], per_class: int = 2, padded: bool = False) -> Path:
    """imagenetv2-matched-frequency-format-val/<class index>/<hash>.jpeg (unpadded names as released)."""
    folder = root / "imagenetv2-matched-frequency-format-val"
    for c in classes:
        name = f"{c:03d}" if padded else str(c)
        for k in range(per_class):
            tiny_image(folder / name / f"{c * 7919 + k:040x}.jpeg")
    return folder


def make_wnid_folders(folder: Path, wnids: Iterable[str], per_class: int = 2, suffix: str = ".jpg") -> Path:
    """<folder>/<wnid>/<n><suffix> (ImageNet-A, -R, -Sketch), plus a README.txt as the real archives have."""
    for wnid in wnids:
        for k in range(per_class):
            tiny_image(folder / wnid / f"{k:04d}{suffix}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.txt").write_text("tiny fixture\n")
    return folder


def make_corruptions(
    folder: Path, corruptions: Iterable[str], severity_folders: Sequence[str], wnids: Sequence[str], per_class: int = 1
) -> Path:
    """<folder>/<corruption>/<severity folder>/<wnid>/ILSVRC2012_val_<n>.JPEG (ImageNet-C and C-bar)."""
    for c in corruptions:
        for sev in severity_folders:
            for w, wnid in enumerate(wnids):
                for k in range(per_class):
                    tiny_image(folder / c / sev / wnid / f"ILSVRC2012_val_{w * 100 + k + 1:08d}.JPEG")
    return folder


def make_stylized(root: Path, categories: Sequence[str], per_class: int = 2) -> Path:
    """stylized/dnn/session-1/<nnnn>_sty_dnn_0_<category>_<nn>_<original>.png (model-vs-human naming)."""
    folder = root / "stylized" / "dnn" / "session-1"
    i = 0
    for cat in categories:
        for k in range(per_class):
            i += 1
            tiny_image(folder / f"{i:04d}_sty_dnn_0_{cat}_{k:02d}_{cat}-{k:04d}-ILSVRC2012-val-{i:08d}.png")
    return folder.parent.parent


def make_objectnet(root: Path, per_class: int = 2) -> Path:
    """objectnet-1.0/images/<folder>/*.png plus the mapping files that ship with ObjectNet: two overlapping
    classes (one many-to-one) and one class without an ImageNet counterpart."""
    folder = root / "objectnet-1.0"
    classes = {"alarm_clock": "Alarm clock", "banana": "Banana", "air_freshener": "Air freshener"}
    for name in classes:
        for k in range(per_class):
            tiny_image(folder / "images" / name / f"{k:032x}.png", size=12)
    mappings = folder / "mappings"
    mappings.mkdir(parents=True)
    (mappings / "folder_to_objectnet_label.json").write_text(json.dumps(classes))
    (mappings / "objectnet_to_imagenet_1k.json").write_text(
        json.dumps({"Alarm clock": "analog clock; digital clock", "Banana": "banana"})
    )
    return folder
