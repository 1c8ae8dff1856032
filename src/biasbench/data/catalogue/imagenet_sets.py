"""The generalization benchmarks of Gavrikov & Keuper (CVPR 2024) and their neighbours (METHODS.md §5.1):
adapters that list each dataset in its real on-disk layout, check it is complete, and say how to obtain it.

Traps encoded here (ANCHORS.md §3):
- ImageNetV2 folders are named ``0 … 999``: the folder name *is* the class index (never a string sort).
- ImageNet-A/-R have 200 classes: labels stay ImageNet indices, scoring restricts the logits
  (``label_spaces``); ``imagenet-val-{a,r}-classes`` give the clean baseline on the same 200 classes.
- ImageNet-C/-C̄ (``corruption_sets``), Stylized are fed at their stored 224 px (``resize_policy = "native"``).
- ReaL labels come from timm's bundled ``real.json``; images with an empty set are not scored.
- ObjectNet: 113 overlapping classes (mapping read from the dataset's own files), 2-px border crop.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

from biasbench.core.downloads import Download
from biasbench.core.errors import DatasetError
from biasbench.data.catalogue.class_folders import ClassFolderSpec, class_folder_samples, wnid_label
from biasbench.data.datasets import IMAGE_SUFFIXES, Sample, register_dataset
from biasbench.data.labels.categories16 import CATEGORIES16
from biasbench.data.labels.imagenet import NUM_CLASSES, real_labels, subset_wnids
from biasbench.data.labels.objectnet import objectnet_folder_wnids

VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})")


class ImageNetFolders(ClassFolderSpec):
    """``<wnid>/<image>`` folders labelled with ImageNet-1k indices (optionally only ``wnid_subset``)."""

    label_space = "imagenet"
    wnid_subset: ClassVar[str | None] = None  # "a" or "r": only those 200 WNIDs are valid classes
    skip_other_classes: ClassVar[bool] = False  # True: ignore other class folders (val on the A/R classes)

    def list_samples(self, folder: Path) -> list[Sample]:
        allowed = frozenset(subset_wnids(self.wnid_subset)) if self.wnid_subset else None
        return class_folder_samples(
            folder, wnid_label(allowed), layout=self.layout, skip_unknown=self.skip_other_classes
        )


VAL_LOCATIONS = ("imagenet/val", "ILSVRC2012/val", "imagenet-val", "imagenet1k/val")
VAL_LAYOUT = "imagenet/val/<wnid>/ILSVRC2012_val_<8 digits>.JPEG: 1000 WNID folders x 50 images"
VAL_OBTAIN = (
    "ImageNet is not freely redistributable: log in at image-net.org, download ILSVRC2012_img_val.tar (6.3 GB), "
    "extract it and sort the images into one folder per WNID (e.g. with the widely used valprep.sh), then place "
    "the folders under <data root>/imagenet/val."
)
VAL_CITATION = "Russakovsky et al., IJCV 2015"


@register_dataset
class ImageNetVal(ImageNetFolders):
    name = "imagenet-val"
    summary = "ImageNet-1k validation set (50,000 images, 1000 classes x 50)"
    expected_count = 50_000
    expected_classes = NUM_CLASSES
    per_class = 50
    locations = VAL_LOCATIONS
    layout = VAL_LAYOUT
    obtain = VAL_OBTAIN
    citation = VAL_CITATION


@register_dataset
class ImageNetValAClasses(ImageNetFolders):
    name = "imagenet-val-a-classes"
    summary = "ImageNet val restricted to the 200 ImageNet-A classes, scored 200-way (clean baseline for -A)"
    label_space = "imagenet-a-200"
    wnid_subset = "a"
    skip_other_classes = True
    expected_count = 10_000
    expected_classes = 200
    per_class = 50
    locations = VAL_LOCATIONS
    layout = VAL_LAYOUT + " (only the 200 ImageNet-A WNIDs are used)"
    obtain = VAL_OBTAIN
    citation = VAL_CITATION


@register_dataset
class ImageNetValRClasses(ImageNetValAClasses):
    name = "imagenet-val-r-classes"
    summary = "ImageNet val restricted to the 200 ImageNet-R classes, scored 200-way (clean baseline for -R)"
    label_space = "imagenet-r-200"
    wnid_subset = "r"
    layout = VAL_LAYOUT + " (only the 200 ImageNet-R WNIDs are used)"


@register_dataset
class ImageNetReaL(ImageNetFolders):
    name = "imagenet-real"
    summary = "ImageNet val with the ReaL multi-labels of Beyer et al. (timm's bundled real.json)"
    label_space = "imagenet-real"
    expected_count = 50_000
    expected_classes = NUM_CLASSES
    per_class = 50
    locations = VAL_LOCATIONS
    layout = VAL_LAYOUT + "; ReaL labels are indexed by the 8-digit number in the file name (1-based)"
    obtain = VAL_OBTAIN + " The ReaL labels ship with timm (no download)."
    citation = "Beyer et al., 'Are we done with ImageNet?', arXiv 2006.07159"

    def list_samples(self, folder: Path) -> list[Sample]:
        labels = real_labels()
        samples = []
        for s in super().list_samples(folder):
            m = VAL_NAME.search(s.path.name)
            if m is None or not 1 <= int(m.group(1)) <= len(labels):
                raise DatasetError(f"{s.path}: cannot read the val image number; expected layout {self.layout}")
            samples.append(Sample(s.path, s.label, {"real": labels[int(m.group(1)) - 1]}))
        return samples


def _v2_label(name: str) -> int | None:
    # "7" and a zero-padded "007" (BvG's fix_inv2.py renaming) both mean class 7
    return int(name) if name.isdigit() and int(name) < NUM_CLASSES else None


@register_dataset
class ImageNetV2(ClassFolderSpec):
    name = "imagenet-v2"
    summary = "ImageNetV2 matched-frequency (10,000 images, 10 per class)"
    label_space = "imagenet"
    expected_count = 10_000
    expected_classes = NUM_CLASSES
    per_class = 10
    locations = (
        "imagenetv2-matched-frequency-format-val",
        "imagenet-v2/imagenetv2-matched-frequency-format-val",
        "imagenetv2/ImageNetV2-matched-frequency",
        "imagenet-v2",
    )
    layout = (
        "imagenetv2-matched-frequency-format-val/<class index 0..999>/<hash>.jpeg (folder name = class index; "
        "zero-padded names also accepted)"
    )
    obtain = (
        "Download imagenetv2-matched-frequency.tar.gz (1.2 GB) from the ImageNetV2 release "
        "(github.com/modestyachts/ImageNetV2; also huggingface.co/datasets/vaishaal/ImageNetV2) and extract it "
        "into the data root. Do not rename or string-sort the folders."
    )
    citation = "Recht et al., ICML 2019"
    # The URL modestyachts/ImageNetV2_pytorch and wise-ft load from (the S3 original is gone). TFDS's
    # url_checksums/imagenet_v2.txt publishes sha256 a32004f9...c122c for the S3 copy only, so the mirror's
    # digest is recorded at the first download. The tarball's folder is imagenetv2-matched-frequency-format-val/
    # with class folders 0..999 read as integers: the spec's first location, no conversion needed.
    downloads = (
        Download(
            "https://huggingface.co/datasets/vaishaal/ImageNetV2/resolve/main/imagenetv2-matched-frequency.tar.gz"
        ),
    )

    def list_samples(self, folder: Path) -> list[Sample]:
        return class_folder_samples(folder, _v2_label, layout=self.layout)


@register_dataset
class ImageNetA(ImageNetFolders):
    name = "imagenet-a"
    summary = "ImageNet-A natural adversarial examples (7,500 images, 200 classes, scored 200-way)"
    label_space = "imagenet-a-200"
    wnid_subset = "a"
    expected_count = 7_500
    expected_classes = 200
    locations = ("imagenet-a",)
    layout = "imagenet-a/<wnid>/<image>.jpg: 200 WNID folders (README.txt alongside is ignored)"
    obtain = (
        "Download https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar (0.7 GB) and extract into the data root."
    )
    citation = "Hendrycks et al., CVPR 2021"
    # sha256: TFDS url_checksums/imagenet_a.txt; md5: torchvision-style loaders (e.g. torch-uncertainty
    # ImageNetA.tgz_md5). The tar holds imagenet-a/<wnid>/...: the spec's location as it is.
    downloads = (
        Download(
            "https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar",
            sha256="3bb3632277e6ba6392ea64c02ddbf4dd2266c9caffd6bc09c9656d28f012589e",
            md5="c3e55429088dc681f30d81f4726b6595",
        ),
    )


@register_dataset
class ImageNetR(ImageNetA):
    name = "imagenet-r"
    summary = "ImageNet-R renditions (30,000 images, 200 classes, scored 200-way)"
    label_space = "imagenet-r-200"
    wnid_subset = "r"
    expected_count = 30_000
    locations = ("imagenet-r",)
    layout = "imagenet-r/<wnid>/<image>.jpg: 200 WNID folders (README.txt alongside is ignored)"
    obtain = (
        "Download https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar (2.1 GB) and extract into the data root."
    )
    citation = "Hendrycks et al., ICCV 2021"
    # sha256: TFDS url_checksums/imagenet_r.txt; md5: torch-uncertainty ImageNetR.tgz_md5.
    downloads = (
        Download(
            "https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar",
            sha256="18c6bf493b39a0d975d48e587437f562caab9c52ae6327dcfa9dd8eb54aa1b52",
            md5="a61312130a589d0ca1a8fca1f2bd3337",
        ),
    )


@register_dataset
class ImageNetSketch(ImageNetFolders):
    name = "imagenet-sketch"
    summary = "ImageNet-Sketch (50,889 sketches, 1000 classes)"
    expected_count = 50_889
    expected_classes = NUM_CLASSES
    locations = ("imagenet-sketch/sketch", "sketch", "imagenet-sketch")
    layout = "imagenet-sketch/sketch/<wnid>/<n>.JPEG: 1000 WNID folders (about 50 each)"
    obtain = (
        "Download ImageNet-Sketch.zip from the links in github.com/HaohanWang/ImageNet-Sketch (Google Drive or "
        "Kaggle 'wanghaohan/imagenetsketch'; 8.4 GB) and extract so that <data root>/imagenet-sketch/sketch/<wnid> "
        "exists."
    )
    citation = "Wang et al., NeurIPS 2019"
    # The Hugging Face copy (songweig/imagenet_sketch) of the Google-Drive zip the authors link
    # (id 1Mj0i5HBthqH1p_yeXzsg22gZduvgoNeA; Drive refuses scripted downloads of large files). No digest is
    # published: recorded at the first download. The zip holds sketch/<wnid>/...
    downloads = (
        Download(
            "https://huggingface.co/datasets/songweig/imagenet_sketch/resolve/main/data/ImageNet-Sketch.zip",
            into="imagenet-sketch",
        ),
    )


@register_dataset
class Stylized(ClassFolderSpec):
    name = "stylized"
    summary = "model-vs-human Stylized-ImageNet (800 images, 16 categories, 224 px, mean-probability mapping)"
    label_space = "categories16"
    resize_policy = "native"
    expected_count = 800
    expected_classes = 16
    per_class = 50
    locations = ("model-vs-human/datasets/stylized", "stylized")
    layout = (
        "stylized/dnn/session-1/<nnnn>_sty_dnn_<cond>_<category>_<nn>_<original name>.png "
        "(the category is the 5th '_'-separated token)"
    )
    obtain = (
        "Download stylized.tar.gz from the model-vs-human v0.1 release "
        "(github.com/bethgelab/model-vs-human/releases) and extract into the data root."
    )
    citation = "Geirhos et al., ICLR 2019; model-vs-human (Geirhos et al., NeurIPS 2021)"
    # model-vs-human's own download URL (modelvshuman/helper: dataset_base_url); no digest published, recorded at
    # the first download. The tarball holds stylized/dnn/session-1/...
    downloads = (Download("https://github.com/bethgelab/model-vs-human/releases/download/v0.1/stylized.tar.gz"),)

    def list_samples(self, folder: Path) -> list[Sample]:
        index = {c: i for i, c in enumerate(CATEGORIES16)}
        samples = []
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
            parts = path.stem.split("_")
            if len(parts) < 5 or parts[4] not in index:
                raise DatasetError(f"{path}: cannot read the category from the file name; expected {self.layout}")
            samples.append(Sample(path, index[parts[4]]))
        return samples


@register_dataset
class ObjectNet(ClassFolderSpec):
    name = "objectnet"
    summary = "ObjectNet, the 113 classes overlapping ImageNet (many-to-one mapping), 2-px border crop"
    label_space = "objectnet-113"
    expected_count = None  # the overlapping subset's size is checked via its 113 classes
    expected_classes = 113
    border_crop = 2
    locations = ("objectnet-1.0", "objectnet")
    layout = (
        "objectnet-1.0/images/<objectnet folder>/<image>.png plus objectnet-1.0/mappings/"
        "{folder_to_objectnet_label.json, objectnet_to_imagenet_1k.json} (or a hand-made "
        "objectnet_to_imagenet_wnids.json mapping each folder to a list of WNIDs)"
    )
    obtain = (
        "ObjectNet needs a licence agreement at objectnet.dev/download.html (test-only licence: no training). "
        "Extract objectnet-1.0.zip into the data root; its mappings/ folder provides the class mapping."
    )
    citation = "Barbu et al., NeurIPS 2019"

    def list_samples(self, folder: Path) -> list[Sample]:
        folder_wnids = objectnet_folder_wnids(folder / "mappings")
        label = {f: i for i, f in enumerate(sorted(folder_wnids))}
        return class_folder_samples(folder / "images", label.get, layout=self.layout, skip_unknown=True)
