"""Dataset specifications: where each dataset lives under the data root, its layout, label space and
expected counts. Register a new one with ``@register_dataset``::

    @register_dataset
    class MyDataset(DatasetSpec):
        name = "my-set"
        summary = "what it is"
        label_space = "imagenet"        # labels are ImageNet-1k indices
        expected_count = 500
        locations = ("my-set",)          # candidate folders under the data root
        layout = "my-set/<wnid>/<image>.JPEG"

        def list_samples(self, folder): ...  # -> list[Sample] in canonical order
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from biasbench.core.downloads import Download
from biasbench.core.errors import DatasetError, UnknownNameError
from biasbench.core.fingerprint import digest
from biasbench.core.paths import resolve_data_root
from biasbench.data.categories16 import CATEGORIES16
from biasbench.data.labels_csv import (
    LabelRow,
    imagenet_index,
    match_files,
    missing_lines,
    read_labels_csv,
    unlisted_files,
)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
PARTIAL_HINT = (
    "If this is a deliberately trimmed copy, measure the images present with --partial (Python: partial=True) "
    "or --limit N: the job is then recorded as partial, and the analysis prefers a full-dataset job."
)


@dataclass(frozen=True)
class Sample:
    """One image: its file, its label in the dataset's label space, and per-image metadata."""

    path: Path
    label: int
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Dataset:
    """A dataset resolved on disk: its spec, folder and samples in canonical order."""

    spec: DatasetSpec
    folder: Path
    samples: tuple[Sample, ...]
    # Why this copy is not the whole dataset ("" when it is): set when a trimmed copy is loaded on purpose.
    partial: str = ""

    @property
    def name(self) -> str:
        return self.spec.name

    def __len__(self) -> int:
        return len(self.samples)

    def head(self, limit: int | None) -> Dataset:
        """The first ``limit`` samples in canonical order (all when ``limit`` is None)."""
        if limit is None or limit >= len(self.samples):
            return self
        return replace(self, samples=self.samples[:limit])

    def fingerprint(self) -> str:
        """Content fingerprint: relative file names, sizes and labels (cheap; no image is read)."""
        rows = [(str(s.path.relative_to(self.folder)), s.path.stat().st_size, s.label) for s in self.samples]
        return digest([self.spec.name, rows])


class DatasetSpec(ABC):
    """What a dataset is and how to find and check it."""

    name: ClassVar[str]
    summary: ClassVar[str]
    label_space: ClassVar[str]  # "imagenet" (1000-way indices) or "categories16"
    expected_count: ClassVar[int | None] = None
    locations: ClassVar[tuple[str, ...]]
    layout: ClassVar[str]
    obtain: ClassVar[str] = ""
    # "model": resize + centre-crop with the model's config; "native": feed the stored pixels as they are.
    resize_policy: ClassVar[str] = "model"
    citation: ClassVar[str] = ""
    # Pixels cropped from every side before the model's resize/crop (ObjectNet's frame); 0: none.
    border_crop: ClassVar[int] = 0
    # Corruption sets stored on disk (ImageNet-C style): ``ondisk`` marks them for the corruption probe, and
    # ``corruptions`` names the benchmark's corruptions; a clean dataset has neither.
    ondisk: ClassVar[bool] = False
    corruptions: ClassVar[tuple[str, ...]] = ()
    # Public archives ``download_dataset`` fetches and extracts; empty where the data is not freely downloadable.
    downloads: ClassVar[tuple[Download, ...]] = ()
    # ``--limit N`` draws a seeded sample balanced over the classes (``data.sampling``); False where samples only
    # make sense together (the frames of a video pm-k set), which are cut to the first N in canonical order.
    limit_by_class: ClassVar[bool] = True

    @abstractmethod
    def list_samples(self, folder: Path) -> list[Sample]:
        """Every sample under ``folder`` in canonical order (sorted file paths)."""

    def find(self, root: Path) -> Path | None:
        """The first candidate location that exists under ``root``."""
        for rel in self.locations:
            if (root / rel).is_dir():
                return root / rel
        return None

    def missing_message(self, root: Path) -> str:
        expected = f"{self.expected_count} images" if self.expected_count else "its images"
        tried = ", ".join(str(root / rel) for rel in self.locations)
        text = (
            f"dataset {self.name!r} not found under data root {root} (looked in: {tried}). "
            f"Expected layout: {self.layout} ({expected}). Set --data-root or BIASBENCH_DATA."
        )
        return text + (f" To obtain it: {self.obtain}" if self.obtain else "")

    def completeness(self, dataset: Dataset) -> list[str]:
        """Why ``dataset`` is not this whole dataset (empty when it is): counts, classes, sets. Subclasses add
        their own checks; the file layout itself is checked by ``list_samples``."""
        if self.expected_count is not None and len(dataset) != self.expected_count:
            return [
                f"dataset {self.name!r} at {dataset.folder} has {len(dataset)} images, expected "
                f"{self.expected_count} (layout: {self.layout}); the copy is incomplete or mixed with other files"
            ]
        return []

    def load(self, root: Path | str | None = None, *, check_count: bool = True) -> Dataset:
        """Resolve the dataset under ``root`` and check that it is complete, naming what is missing.

        ``check_count=False`` accepts a trimmed copy: the returned dataset says why it is partial
        (``Dataset.partial``), so the job that measures it records that."""
        root_path = resolve_data_root(root)
        folder = self.find(root_path)
        if folder is None:
            raise DatasetError(self.missing_message(root_path))
        dataset = Dataset(self, folder, tuple(self.list_samples(folder)))
        if not dataset.samples:
            raise DatasetError(f"dataset {self.name!r} at {folder} holds no images; expected layout: {self.layout}")
        problems = self.completeness(dataset)
        if problems and check_count:
            raise DatasetError(f"{'; '.join(problems)}. {PARTIAL_HINT}")
        return replace(dataset, partial="; ".join(problems))


DATASETS: dict[str, DatasetSpec] = {}
# Datasets named by a prefix and an argument, e.g. "folder:PATH": prefix → spec factory taking the argument.
DATASET_PREFIXES: dict[str, Callable[[str], DatasetSpec]] = {}
# Modules that register the built-in dataset specs beyond the two defined here; imported on first lookup.
BUILTIN_DATASET_MODULES = (
    "biasbench.data.benchmarks",
    "biasbench.data.corruption_sets",
    "biasbench.data.refined_bias",
    "biasbench.data.folder",
    "biasbench.data.si_score",
    "biasbench.data.transfer",
    "biasbench.data.video",
)


def register_dataset(cls: type[DatasetSpec]) -> type[DatasetSpec]:
    DATASETS[cls.name] = cls()
    return cls


def register_dataset_prefix(prefix: str) -> Callable[[Callable[[str], DatasetSpec]], Callable[[str], DatasetSpec]]:
    """Register a factory for datasets named ``<prefix>:<argument>`` (``folder:PATH``)."""

    def wrap(factory: Callable[[str], DatasetSpec]) -> Callable[[str], DatasetSpec]:
        DATASET_PREFIXES[prefix] = factory
        return factory

    return wrap


def registered_datasets() -> dict[str, DatasetSpec]:
    """Every registered dataset spec, built-in modules included."""
    import importlib

    for module in BUILTIN_DATASET_MODULES:
        importlib.import_module(module)
    return DATASETS


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec of a registered dataset, or of a prefixed one (``folder:PATH``); unknown names get suggestions."""
    registered = registered_datasets()
    prefix, colon, argument = name.partition(":")
    if colon and prefix in DATASET_PREFIXES:
        return DATASET_PREFIXES[prefix](argument)
    if name not in registered:
        raise UnknownNameError(
            "dataset",
            name,
            registered,
            hint="`biasbench datasets` lists them with their status; folder:PATH measures your own image folder.",
        )
    return registered[name]


def canonical_dataset_name(name: str) -> str:
    """The name a dataset is recorded under: registered names as they are, ``folder:PATH`` with an absolute
    path (so that records, job keys and cluster workers do not depend on the current directory)."""
    return get_dataset_spec(name).name if ":" in name else name


def load_dataset(name: str, root: Path | str | None = None) -> Dataset:
    """Resolve a registered dataset under the data root."""
    return get_dataset_spec(name).load(root)


def image_files(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursive, following links), sorted by path. A folder that cannot be read
    raises the OS's error (``PermissionError``: reported with its fix) instead of looking empty."""

    def fail(error: OSError) -> None:
        raise error

    found = [
        Path(parent) / name
        for parent, _, names in os.walk(folder, onerror=fail, followlinks=True)
        for name in names
        if Path(name).suffix.lower() in IMAGE_SUFFIXES
    ]
    return sorted(p for p in found if p.is_file())


def texture_of(filename: str) -> str:
    """Texture category of a cue-conflict file name: the last ``-`` token of the last ``_`` token, digits
    stripped (``airplane1-bicycle2.png`` → ``bicycle``; model-vs-human prefixes are handled)."""
    stem = Path(filename).stem.split("_")[-1]
    return stem.split("-")[-1].rstrip("0123456789")


# texture-vs-shape at the commit of the shared data's MANIFEST: the GitHub archive of the repository (no digest is
# published: recorded at the first download); its stimuli/ and DATASET_LICENSE go to <data root>/texture-vs-shape.
TEXTURE_VS_SHAPE = (
    Download(
        "https://github.com/rgeirhos/texture-vs-shape/archive/ccd0c01d42c0a8a834e90ec141e7f24fa915dc23.tar.gz",
        "texture-vs-shape",
        layout="github-archive",
        keep=("stimuli", "DATASET_LICENSE"),
    ),
)


@register_dataset
class CueConflict(DatasetSpec):
    name = "cue-conflict"
    summary = "Geirhos et al. shape/texture cue-conflict stimuli (16 categories, 224 px, fed without resize)"
    label_space = "categories16"
    expected_count = 1280
    locations = ("texture-vs-shape/stimuli/style-transfer-preprocessed-512", "cue-conflict")
    layout = "<shape>/<shape><i>-<texture><j>.png in 16 shape folders (airplane ... truck), 80 each"
    obtain = "clone github.com/rgeirhos/texture-vs-shape (stimuli/style-transfer-preprocessed-512), CC BY 4.0."
    resize_policy = "native"
    citation = "Geirhos et al., ICLR 2019"
    downloads = TEXTURE_VS_SHAPE

    def list_samples(self, folder: Path) -> list[Sample]:
        index = {c: i for i, c in enumerate(CATEGORIES16)}
        samples = []
        for path in image_files(folder):
            shape, texture = path.parent.name, texture_of(path.name)
            if shape not in index or texture not in index:
                raise DatasetError(
                    f"{path}: cannot read shape/texture categories (folder {shape!r}, texture {texture!r}); "
                    f"expected layout {self.layout}"
                )
            samples.append(Sample(path, index[shape], {"texture": index[texture]}))
        return samples


@register_dataset
class ImageNetSample(DatasetSpec):
    name = "imagenet-sample"
    summary = "1000 ImageNet images, one per class, with labels.csv (a quick sanity set, not a benchmark)"
    label_space = "imagenet"
    expected_count = 1000
    locations = ("imagenet-sample-images",)
    layout = "imagenet-sample-images/images/<file>.JPEG plus imagenet-sample-images/labels.csv (filename,class_index)"
    obtain = "github.com/EliSchwartz/imagenet-sample-images; write labels.csv with filename,class_index."
    # The repository at the commit of the shared data's MANIFEST (no published digest: recorded at the first
    # download); its 1000 <wnid>_<name>.JPEG files go to images/ and labels.csv is written from the WNIDs.
    downloads = (
        Download(
            "https://github.com/EliSchwartz/imagenet-sample-images/archive/bc69043e2862758a1906c6a24a792bb28c6bb2ff.tar.gz",
            "imagenet-sample-images",
            layout="imagenet-sample",
        ),
    )

    labels_fix = "Write one line per image: filename,class_index (the ImageNet-1k index 0..999)."

    def labelled_files(self, folder: Path) -> tuple[Path, list[LabelRow], list[LabelRow]]:
        """labels.csv, its rows whose image is present (sorted by file) and its rows whose image is missing. An
        image that labels.csv does not list is an error (a copy mixed with other files)."""
        labels_csv = folder / "labels.csv"
        if not labels_csv.is_file():
            raise DatasetError(f"{labels_csv} is missing; expected layout: {self.layout}")
        rows = read_labels_csv(
            labels_csv,
            file_column="filename",
            label_column="class_index",
            parse_label=imagenet_index,
            fix=self.labels_fix,
        )
        present = [p.relative_to(folder / "images").as_posix() for p in image_files(folder / "images")]
        missing, unlisted = match_files(rows, present)
        if unlisted:
            raise DatasetError(
                f"{unlisted_files(labels_csv, folder / 'images', unlisted)}\nAdd a line for each to labels.csv "
                "or move them out of the folder."
            )
        gone = {r.file for r in missing}
        return labels_csv, sorted((r for r in rows if r.file not in gone), key=lambda r: r.file), missing

    def list_samples(self, folder: Path) -> list[Sample]:
        _, present, _ = self.labelled_files(folder)
        return [Sample(folder / "images" / r.file, r.label) for r in present]

    def completeness(self, dataset: Dataset) -> list[str]:
        labels_csv, _, missing = self.labelled_files(dataset.folder)
        return [missing_lines(labels_csv, missing)] if missing else super().completeness(dataset)


class _ShapeStimuli(DatasetSpec):
    """Geirhos et al.'s 160 shape-only stimuli, ``<category>/<category><i>.png`` in 16 folders (224 px)."""

    label_space = "categories16"
    expected_count = 160
    resize_policy = "native"
    obtain = "clone github.com/rgeirhos/texture-vs-shape (stimuli/), CC BY 4.0."
    citation = "Geirhos et al., ICLR 2019; model-vs-human (Geirhos et al., NeurIPS 2021)"
    downloads = TEXTURE_VS_SHAPE

    def list_samples(self, folder: Path) -> list[Sample]:
        index = {c: i for i, c in enumerate(CATEGORIES16)}
        samples = []
        for path in image_files(folder):
            if path.parent.name not in index:
                raise DatasetError(f"{path}: folder {path.parent.name!r} is not a 16-class category; {self.layout}")
            samples.append(Sample(path, index[path.parent.name]))
        return samples


@register_dataset
class Edge(_ShapeStimuli):
    name = "edge"
    summary = "Geirhos et al. edge drawings (160 images, 16 categories; model-vs-human 'edge')"
    locations = ("texture-vs-shape/stimuli/edges", "edges")
    layout = "<category>/<category><i>.png in 16 folders (airplane ... truck), 10 each"


@register_dataset
class Silhouette(_ShapeStimuli):
    name = "silhouette"
    summary = "Geirhos et al. filled silhouettes (160 images, 16 categories; model-vs-human 'silhouette')"
    locations = ("texture-vs-shape/stimuli/filled-silhouettes", "silhouette")
    layout = "<category>/<category><i>.png in 16 folders (airplane ... truck), 10 each"
