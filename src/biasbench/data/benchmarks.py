"""The generalization benchmarks of Gavrikov & Keuper (CVPR 2024) and their neighbours (METHODS.md §5.1):
adapters that list each dataset in its real on-disk layout, check it is complete, and say how to obtain it.

Traps encoded here (ANCHORS.md §3):
- ImageNetV2 folders are named ``0 … 999``: the folder name *is* the class index (never a string sort).
- ImageNet-A/-R have 200 classes: labels stay ImageNet indices, scoring restricts the logits
  (``label_maps``); ``imagenet-val-{a,r}-classes`` give the clean baseline on the same 200 classes.
- ImageNet-C/-C̄, Stylized are fed at their stored 224 px (``resize_policy = "native"``).
- ReaL labels come from timm's bundled ``real.json``; images with an empty set are not scored.
- ObjectNet: 113 overlapping classes (mapping read from the dataset's own files), 2-px border crop.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from biasbench.core.errors import DatasetError
from biasbench.core.paths import resolve_data_root
from biasbench.data.categories16 import CATEGORIES16
from biasbench.data.datasets import IMAGE_SUFFIXES, Dataset, DatasetSpec, Sample, register_dataset
from biasbench.data.imagenet import NUM_CLASSES, real_labels, subset_wnids, wnid_to_index
from biasbench.data.images import ImageTransform, decode_rgb, model_pixels, to_uint8_tensor
from biasbench.data.objectnet import objectnet_folder_wnids

IMAGENET_C_CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
    "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression",
    "speckle_noise", "gaussian_blur", "spatter", "saturate",
)  # fmt: skip
"""The 19 corruptions of the CVPR 2024 study: Hendrycks & Dietterich's 15 plus the 4 'extra' ones."""

IMAGENET_CBAR_CORRUPTIONS: tuple[str, ...] = (
    "blue_noise_sample", "brownish_noise", "caustic_refraction", "checkerboard_cutout", "cocentric_sine_waves",
    "inverse_sparkles", "perlin_noise", "plasma_noise", "single_frequency_greyscale", "sparkles",
)  # fmt: skip

VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})")


@dataclass(frozen=True)
class Download:
    """One public archive: extracted into ``<data root>/<into>``. ``sha256`` is empty where no published
    digest was available to pin (fetch then skips verification and says so in the report)."""

    url: str
    into: str = "."
    sha256: str = ""


def _images_in(folder: Path) -> list[str]:
    """Image file names directly in ``folder`` (sorted); scandir keeps million-file listings fast."""
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.is_file() and Path(e.name).suffix.lower() in IMAGE_SUFFIXES)


def _subfolders(folder: Path) -> list[str]:
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.is_dir())


def class_folder_samples(
    folder: Path,
    label_of: Callable[[str], int | None],
    *,
    layout: str,
    meta: dict[str, Any] | None = None,
    skip_unknown: bool = False,
) -> list[Sample]:
    """Samples of a ``<class folder>/<image>`` tree ordered by (label, file name).

    ``label_of`` maps a folder name to a label explicitly; an unknown folder is an error naming the expected
    layout (or is skipped with ``skip_unknown``). Ordering by label, not by the folder string, is what keeps
    ImageNetV2's ``0 … 999`` folders aligned with class indices.
    """
    classes = []
    for name in _subfolders(folder):
        label = label_of(name)
        if label is None:
            if skip_unknown:
                continue
            raise DatasetError(f"{folder / name}: unexpected class folder {name!r}; expected layout {layout}")
        classes.append((label, name))
    samples = []
    for label, name in sorted(classes):
        for file in _images_in(folder / name):
            samples.append(Sample(folder / name / file, label, dict(meta or {})))
    return samples


def wnid_label(allowed: frozenset[str] | None = None) -> Callable[[str], int | None]:
    """Folder name (a WNID) → ImageNet index; None for non-WNIDs or WNIDs outside ``allowed``."""
    index = wnid_to_index()

    def label_of(name: str) -> int | None:
        if allowed is not None and name not in allowed:
            return None
        return index.get(name)

    return label_of


class BenchmarkSpec(DatasetSpec):
    """A benchmark dataset with class-level integrity checks and optional public downloads."""

    expected_classes: ClassVar[int | None] = None
    per_class: ClassVar[int | None] = None  # images per class, when the dataset is balanced
    downloads: ClassVar[tuple[Download, ...]] = ()

    def load(self, root: Path | str | None = None, *, check_count: bool = True) -> Dataset:
        dataset = super().load(root, check_count=check_count)
        if check_count:
            self.check_classes(dataset)
        return dataset

    def check_classes(self, dataset: Dataset) -> None:
        """Class count and per-class count, as the original scripts assert (METHODS.md §1.3)."""
        counts = Counter(s.label for s in dataset.samples)
        if self.expected_classes is not None and len(counts) != self.expected_classes:
            raise DatasetError(
                f"dataset {self.name!r} at {dataset.folder} has {len(counts)} classes, expected "
                f"{self.expected_classes} (layout: {self.layout})"
            )
        if self.per_class is not None:
            bad = {c: n for c, n in counts.items() if n != self.per_class}
            if bad:
                shown = ", ".join(f"class {c}: {n}" for c, n in sorted(bad.items())[:5])
                raise DatasetError(
                    f"dataset {self.name!r} at {dataset.folder}: expected {self.per_class} images per class, "
                    f"found {shown}{' ...' if len(bad) > 5 else ''}"
                )


class ImageNetFolders(BenchmarkSpec):
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
class ImageNetV2(BenchmarkSpec):
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
    downloads = (Download("https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar"),)


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
    downloads = (Download("https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar"),)


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


class CorruptionFolders(BenchmarkSpec):
    """``<corruption>/<severity>/<wnid>/<image>``; each sample's meta names its corruption and severity."""

    label_space = "imagenet"
    resize_policy = "native"  # pre-rendered at 224 px: no resize/crop (ANCHORS.md §3 pitfall 3)
    corruptions: ClassVar[tuple[str, ...]]
    per_set: ClassVar[int] = 50_000
    ondisk = True  # marks datasets the corruption probe reads from disk

    def severities(self, folder: Path) -> list[tuple[int, str]]:
        """(severity level 1..5, folder name) of one corruption folder."""
        return [(int(n), n) for n in _subfolders(folder) if n.isdigit()]

    def list_samples(self, folder: Path) -> list[Sample]:
        label_of = wnid_label()
        present = [c for c in self.corruptions if (folder / c).is_dir()]
        samples = []
        for corruption in present:
            for level, sub in sorted(self.severities(folder / corruption)):
                samples += class_folder_samples(
                    folder / corruption / sub,
                    label_of,
                    layout=self.layout,
                    meta={"corruption": corruption, "severity": level, "severity_folder": sub},
                )
        return samples

    def load(self, root: Path | str | None = None, *, check_count: bool = True) -> Dataset:
        dataset = DatasetSpec.load(self, root, check_count=False)
        if check_count:
            self.check_sets(dataset)
        return dataset

    def check_sets(self, dataset: Dataset) -> None:
        """Every corruption x severity set present and complete; the error names what is missing."""
        counts = Counter((s.meta["corruption"], s.meta["severity"]) for s in dataset.samples)
        missing = [c for c in self.corruptions if not any(k[0] == c for k in counts)]
        wrong = {k: n for k, n in counts.items() if n != self.per_set}
        levels = {c: sorted(k[1] for k in counts if k[0] == c) for c in self.corruptions if c not in missing}
        bad_levels = {c: v for c, v in levels.items() if v != [1, 2, 3, 4, 5]}
        if missing or wrong or bad_levels:
            parts = []
            if missing:
                parts.append(f"missing corruptions: {', '.join(missing)}")
            if bad_levels:
                parts.append("severities found: " + "; ".join(f"{c} {v}" for c, v in bad_levels.items()))
            if wrong:
                parts.append(
                    "incomplete sets: " + ", ".join(f"{c}/{s}: {n}" for (c, s), n in sorted(wrong.items())[:5])
                )
            raise DatasetError(
                f"dataset {self.name!r} at {dataset.folder} is incomplete ({'; '.join(parts)}). Expected "
                f"{len(self.corruptions)} corruptions x 5 severities x {self.per_set} images; layout {self.layout}. "
                + self.obtain
            )


@register_dataset
class ImageNetC(CorruptionFolders):
    name = "imagenet-c"
    summary = "ImageNet-C: 19 corruptions (15 + 4 extra) x 5 severities x 50,000, pre-rendered 224 px"
    corruptions = IMAGENET_C_CORRUPTIONS
    expected_count = 19 * 5 * 50_000
    locations = ("imagenet-c", "ImageNet-C")
    layout = "imagenet-c/<corruption>/<1..5>/<wnid>/ILSVRC2012_val_<n>.JPEG (224x224)"
    obtain = (
        "Download noise.tar, blur.tar, weather.tar, digital.tar and extra.tar from zenodo.org/record/2235448 "
        "(about 70 GB together) and extract them all into <data root>/imagenet-c."
    )
    citation = "Hendrycks & Dietterich, ICLR 2019"
    downloads = tuple(
        Download(f"https://zenodo.org/record/2235448/files/{part}.tar", "imagenet-c")
        for part in ("noise", "blur", "weather", "digital", "extra")
    )


@register_dataset
class ImageNetCBar(CorruptionFolders):
    name = "imagenet-cbar"
    summary = "ImageNet-C-bar: 10 corruptions x 5 severities x 50,000, pre-rendered 224 px"
    corruptions = IMAGENET_CBAR_CORRUPTIONS
    expected_count = 10 * 5 * 50_000
    locations = ("imagenet-c-bar", "ImageNet-C-Bar", "imagenet-cbar")
    layout = (
        "imagenet-c-bar/<corruption>/<severity parameter, e.g. 0.40>/<wnid>/<image>.JPEG (224x224); the five "
        "parameter folders of a corruption are ranked numerically as severities 1..5"
    )
    obtain = (
        "Download imagenet_c_bar.tar.gz as linked from github.com/facebookresearch/augmentation-corruption "
        "(or render it with its make_imagenet_c_bar.py from ImageNet val) and extract into <data root>/imagenet-c-bar."
    )
    citation = "Mintun, Kirillov & Xie, NeurIPS 2021"
    downloads = (Download("https://dl.fbaipublicfiles.com/inc_bar/imagenet_c_bar.tar.gz"),)

    def severities(self, folder: Path) -> list[tuple[int, str]]:
        # Folders are named by the corruption's parameter ("{:.2f}"), not 1..5; rank them numerically.
        names = [n for n in _subfolders(folder) if re.fullmatch(r"\d+(\.\d+)?", n)]
        return [(rank, n) for rank, n in enumerate(sorted(names, key=float), start=1)]


@register_dataset
class Stylized(BenchmarkSpec):
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


@dataclass(frozen=True)
class BorderCropTransform(ImageTransform):
    """Crop ``border`` pixels from every side before the model's resize/crop (ObjectNet's 1-px red frame,
    smeared by JPEG, hence 2 px as in imagenet-testbed)."""

    border: int = 2

    def __call__(self, path):
        image = decode_rgb(path)
        w, h = image.size
        image = image.crop((self.border, self.border, w - self.border, h - self.border))
        return model_pixels(image, self.preprocess) if self.policy == "model" else to_uint8_tensor(image)

    @property
    def key(self) -> dict:
        return {**super().key, "border": self.border}


def transform_for(dataset: Dataset, model) -> ImageTransform | None:
    """The dataset's pixel pipeline when it needs more than the engine default (None otherwise)."""
    border = getattr(dataset.spec, "border_crop", 0)
    return BorderCropTransform(dataset.spec.resize_policy, model.preprocess, border) if border else None


@register_dataset
class ObjectNet(BenchmarkSpec):
    name = "objectnet"
    summary = "ObjectNet, the 113 classes overlapping ImageNet (many-to-one mapping), 2-px border crop"
    label_space = "objectnet-113"
    expected_count = None  # the overlapping subset's size is checked via its 113 classes
    expected_classes = 113
    border_crop: ClassVar[int] = 2
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


def download_dataset(name: str, root: Path | str | None = None) -> Path:
    """Download and safely extract a dataset's public archives into the data root (resumable; archives are
    kept under ``<root>/.downloads`` for re-use). Datasets without public archives raise with their
    instructions."""
    from biasbench.core.downloads import fetch_and_extract
    from biasbench.data.datasets import get_dataset_spec

    spec = get_dataset_spec(name)
    downloads: tuple[Download, ...] = getattr(spec, "downloads", ())
    root_path = resolve_data_root(root)
    if not downloads:
        raise DatasetError(f"dataset {name!r} has no public download. {spec.obtain}")
    for d in downloads:
        archive = root_path / ".downloads" / d.url.rsplit("/", 1)[-1]
        fetch_and_extract(d.url, archive, root_path / d.into, d.sha256)
    return root_path
