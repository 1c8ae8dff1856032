"""What a dataset is — ``Sample``, ``Dataset``, ``DatasetSpec`` (where it lives under the data root, its layout,
label space and expected counts) — and the dataset registry. The datasets themselves live in
``biasbench.data.catalogue``, one module per family; add one there (or in a plug-in) with ``@register_dataset``::

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
from biasbench.core.errors import DatasetError
from biasbench.core.fingerprint import digest
from biasbench.core.paths import resolve_data_root
from biasbench.core.registry import Registry

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
    # ``--limit N`` draws a seeded sample balanced over the classes (``data.pixels.sampling``); False where samples only
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


DATASETS: Registry[DatasetSpec] = Registry(
    "dataset",
    packages=("biasbench.data.catalogue",),
    group="biasbench.datasets",
    hint="`biasbench datasets` lists them with their status; folder:PATH measures your own image folder.",
)
"""Every dataset spec by name: the modules of ``biasbench.data.catalogue`` and the ``biasbench.datasets`` plug-ins."""
# Datasets named by a prefix and an argument, e.g. "folder:PATH": prefix → spec factory taking the argument.
DATASET_PREFIXES: Registry[Callable[[str], DatasetSpec]] = Registry(
    "dataset prefix", packages=("biasbench.data.catalogue",), group="biasbench.datasets"
)


def register_dataset(cls: type[DatasetSpec]) -> type[DatasetSpec]:
    """Class decorator adding a dataset spec to ``DATASETS`` under its name."""
    DATASETS.register(cls.name, cls(), definition=cls)
    return cls


def register_dataset_prefix(prefix: str) -> Callable[[Callable[[str], DatasetSpec]], Callable[[str], DatasetSpec]]:
    """Register a factory for datasets named ``<prefix>:<argument>`` (``folder:PATH``)."""
    return DATASET_PREFIXES.decorator(prefix)


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec of a registered dataset, or of a prefixed one (``folder:PATH``); unknown names get suggestions."""
    prefix, colon, argument = name.partition(":")
    if colon and prefix in DATASET_PREFIXES:
        return DATASET_PREFIXES[prefix](argument)
    return DATASETS[name]


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
