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


VID_CLASSES = {"0": ["n02691156", "airplane"], "1": ["n01503061", "bird"]}
VID_WNID_MAP = {"n02690373": "n02691156", "n04552348": "n02691156", "n01530575": "n01503061"}


def make_imagenet_vid_robust(root: Path) -> Path:
    """imagenet_vid_ytbb_robust/imagenet-vid-robust: val/<snippet>/<frame>.JPEG, metadata/{labels,pmsets}.json,
    misc/{wnid_map,imagenet_vid_class_index}.json. Two classes; anchor A (000010) with neighbours at -5 and +4
    and a multi-label neighbour, anchor B without neighbours; an unlabelled frame that is not a sample."""
    folder = root / "imagenet_vid_ytbb_robust" / "imagenet-vid-robust"
    labels = {
        "val/snipA/000010.JPEG": [0],
        "val/snipA/000005.JPEG": [0],
        "val/snipA/000014.JPEG": [0, 1],
        "val/snipB/000020.JPEG": [1],
    }
    for key in [*labels, "val/snipA/000030.JPEG"]:
        tiny_image(folder / key)
    pmsets = {"val/snipA/000010.JPEG": ["val/snipA/000005.JPEG", "val/snipA/000014.JPEG"], "val/snipB/000020.JPEG": []}
    (folder / "metadata").mkdir(parents=True)
    (folder / "metadata" / "labels.json").write_text(json.dumps(labels))
    (folder / "metadata" / "pmsets.json").write_text(json.dumps(pmsets))
    (folder / "misc").mkdir(parents=True)
    (folder / "misc" / "wnid_map.json").write_text(json.dumps(VID_WNID_MAP))
    (folder / "misc" / "imagenet_vid_class_index.json").write_text(json.dumps(VID_CLASSES))
    return folder


YTBB_NAMES = {str(i): f"class{i}" for i in range(24)}
YTBB_MEMBERS = {"3": [404, 895], "5": [1], "23": [2], "0": [0]}  # 22 ("none") has no ImageNet member


def make_ytbb_robust(root: Path) -> Path:
    """imagenet_vid_ytbb_robust/ytbb-robust: ytbb_videos/<ytid>_<ms>/frame-<i>.jpg and the WiSE-FT metadata.
    vidA: good anchor (review adds class3; CSV label 22 → 23 after the swap), neighbours -5 and +2 similar, -1
    dissimilar; vidB: good anchor, no neighbours; vidC: anchor marked bad; vidD: flagged bad-anchor."""
    folder = root / "imagenet_vid_ytbb_robust" / "ytbb-robust"
    frames = {"vidA_1000": (5, 9, 10, 12), "vidB_2000": (10,), "vidC_3000": (10,), "vidD_4000": (10, 11)}
    for video, numbers in frames.items():
        for n in numbers:
            tiny_image(folder / "ytbb_videos" / video / f"frame-{n}.jpg")
    meta = folder / "metadata"
    meta.mkdir(parents=True)
    anchor_names = ["good", "bad", "unsure", "class3"]
    anchors = [
        {"key": "/x/ytbb_videos/vidA_1000/frame-10.jpg", "labels": [0, 3]},
        {"key": "/x/ytbb_videos/vidB_2000/frame-10.jpg", "labels": [2]},  # first annotation: unsure ...
        {"key": "/x/ytbb_videos/vidB_2000/frame-10.jpg", "labels": [0]},  # ... the last one wins: good
        {"key": "/x/ytbb_videos/vidC_3000/frame-10.jpg", "labels": [0, 1]},
        {"key": "/x/ytbb_videos/vidD_4000/frame-10.jpg", "labels": [0]},
    ]
    (meta / "anchor_labels.json").write_text(json.dumps({"labels": anchor_names, "annotations": anchors}))
    pmk_names = ["similar", "dissimilar", "bad-anchor", "correct"]
    pmk = [
        {"key": "vidA_1000/frame-10.jpg,vidA_1000/frame-12.jpg", "labels": [0, 3]},
        {"key": "vidA_1000/frame-10.jpg,vidA_1000/frame-5.jpg", "labels": [0]},
        {"key": "vidA_1000/frame-10.jpg,vidA_1000/frame-9.jpg", "labels": [0, 1]},
        {"key": "vidD_4000/frame-10.jpg,vidD_4000/frame-11.jpg", "labels": [0, 2]},
    ]
    (meta / "pmk_labels.json").write_text(json.dumps({"labels": pmk_names, "annotations": pmk}))
    rows = ["ytid,time_ms,label", "vidA,1000,22", "vidB,2000,5", "vidC,3000,5", "vidD,4000,5"]
    (meta / "ytbb_robustness_test_anchors_full.csv").write_text("\n".join(rows) + "\n")
    (meta / "ytbb_class_index.json").write_text(json.dumps(YTBB_NAMES))
    (meta / "rev_class_idx_map.json").write_text(json.dumps(YTBB_MEMBERS))
    return folder


def make_refined_bias(root: Path, per_class: int = 2, top: str = "REFINED-BIAS-main", size: int = 8) -> Path:
    """REFINED-BIAS's repository layout: <top>/refined_bias/datasets/refined_bias_shape/<class>/<class>_<i>.png
    and refined_bias_texture/<class>/<k>x<k>_<class>_<i>.png for the 10 classes of each set."""
    from biasbench.data.labels.class_groups import SHAPE_CLASSES, TEXTURE_CLASSES

    datasets = root / top / "refined_bias" / "datasets"
    for name in SHAPE_CLASSES:
        for i in range(per_class):
            tiny_image(datasets / "refined_bias_shape" / name / f"{name}_{i * 37}.png", size)
    for name in TEXTURE_CLASSES:
        for i in range(per_class):
            k = (4, 16, 32)[i % 3]
            tiny_image(datasets / "refined_bias_texture" / name / f"{k}x{k}_{name}_{i}.png", size)
    return datasets
