"""Class-folder layouts shared by the catalogue: listing ``<class>/<image>`` trees in label order,
WNID folder names as ImageNet labels, and ``ClassFolderSpec`` (class-count and per-class integrity checks)."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from biasbench.core.errors import DatasetError
from biasbench.data.datasets import IMAGE_SUFFIXES, Dataset, DatasetSpec, Sample
from biasbench.data.labels.imagenet import wnid_to_index


def image_names(folder: Path) -> list[str]:
    """Image file names directly in ``folder`` (sorted); scandir keeps million-file listings fast."""
    with os.scandir(folder) as it:
        return sorted(e.name for e in it if e.is_file() and Path(e.name).suffix.lower() in IMAGE_SUFFIXES)


def subfolders(folder: Path) -> list[str]:
    """Names of the folders directly in ``folder`` (sorted)."""
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
    for name in subfolders(folder):
        label = label_of(name)
        if label is None:
            if skip_unknown:
                continue
            raise DatasetError(f"{folder / name}: unexpected class folder {name!r}; expected layout {layout}")
        classes.append((label, name))
    samples = []
    for label, name in sorted(classes):
        for file in image_names(folder / name):
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


class ClassFolderSpec(DatasetSpec):
    """A ``<class>/<image>`` dataset with class-level integrity checks and optional public downloads."""

    expected_classes: ClassVar[int | None] = None
    per_class: ClassVar[int | None] = None  # images per class, when the dataset is balanced

    def completeness(self, dataset: Dataset) -> list[str]:
        """The image count, then the class count and per-class count, as the original scripts assert (METHODS.md
        §1.3)."""
        problems = super().completeness(dataset)
        counts = Counter(s.label for s in dataset.samples)
        if self.expected_classes is not None and len(counts) != self.expected_classes:
            problems.append(
                f"dataset {self.name!r} at {dataset.folder} has {len(counts)} classes, expected "
                f"{self.expected_classes} (layout: {self.layout})"
            )
        if self.per_class is not None:
            bad = {c: n for c, n in counts.items() if n != self.per_class}
            if bad:
                shown = ", ".join(f"class {c}: {n}" for c, n in sorted(bad.items())[:5])
                problems.append(
                    f"dataset {self.name!r} at {dataset.folder}: expected {self.per_class} images per class, "
                    f"found {shown}{' ...' if len(bad) > 5 else ''}"
                )
        return problems
