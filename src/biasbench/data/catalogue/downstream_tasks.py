"""Downstream tasks for the ``transfer`` probe (VTAB-1k style): each task has its own classes and a
``train`` split (the labelled examples a linear probe sees) and a ``test`` split (where it is scored).

Layout of every task: ``<task folder>/{train,test}/<class>/<image>``. Class folders are the task's label
(integers as exported from TFDS sort numerically; names sort alphabetically); a class must exist in both
splits' union only once, so train and test share one label index.

- VTAB-1k (Zhai et al. 2019): 19 tasks in three groups, ``train`` = the 1000-example ``train800val200``
  split. Export them with ``google-research/task_adaptation`` / TFDS into the layout above.
- ``sklearn-digits``: the 1,797 8×8 handwritten digits bundled with scikit-learn, written once as PNGs into
  the user cache (first 1000 images = train, remaining 797 = test). A smoke-scale offline task, not VTAB.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import ClassVar

import numpy as np
from PIL import Image

from biasbench.core.errors import DatasetError
from biasbench.core.paths import user_cache_dir
from biasbench.data.datasets import Dataset, DatasetSpec, Sample, image_files, register_dataset

SPLITS = ("train", "test")
VTAB_1K_TRAIN = 1000

VTAB_TASKS: dict[str, tuple[str, ...]] = {
    "natural": ("caltech101", "cifar100", "dtd", "flowers102", "pets", "svhn", "sun397"),
    "specialized": ("camelyon", "eurosat", "resisc45", "retinopathy"),
    "structured": (
        "clevr-count", "clevr-dist", "dmlab", "kitti-dist", "dsprites-loc", "dsprites-ori", "snorb-azim", "snorb-elev",
    ),
}  # fmt: skip
"""The 19 VTAB-1k tasks by group (Zhai et al. 2019; Djolonga et al. 2021 report the group means)."""


def _class_order(names: set[str]) -> list[str]:
    return sorted(names, key=int) if all(n.isdigit() for n in names) else sorted(names)


def split_folder_samples(folder: Path, layout: str) -> list[Sample]:
    """Samples of ``folder/{train,test}/<class>/<image>``, ``meta["split"]`` set, one label index per class
    across both splits; canonical order: split, then label, then file."""
    missing = [s for s in SPLITS if not (folder / s).is_dir()]
    if missing:
        raise DatasetError(f"{folder}: split folder(s) {missing} missing; expected layout {layout}")
    classes = {s: {p.name for p in (folder / s).iterdir() if p.is_dir()} for s in SPLITS}
    index = {name: i for i, name in enumerate(_class_order(classes["train"] | classes["test"]))}
    samples = []
    for split in SPLITS:
        for name in sorted(classes[split], key=index.__getitem__):
            samples += [Sample(p, index[name], {"split": split}) for p in image_files(folder / split / name)]
    return samples


class TransferTaskSpec(DatasetSpec):
    """A downstream task: its own label space (``downstream``), train/test splits, a VTAB group."""

    label_space = "downstream"
    group: ClassVar[str] = ""
    expected_train: ClassVar[int | None] = VTAB_1K_TRAIN

    def list_samples(self, folder: Path) -> list[Sample]:
        return split_folder_samples(folder, self.layout)

    def completeness(self, dataset: Dataset) -> list[str]:
        problems = super().completeness(dataset)
        n_train = Counter(s.meta["split"] for s in dataset.samples)["train"]
        if self.expected_train is not None and n_train != self.expected_train:
            problems.append(
                f"task {self.name!r} at {dataset.folder} has {n_train} training images, expected "
                f"{self.expected_train} (VTAB-1k's train800val200 split; layout {self.layout})"
            )
        return problems


def _vtab_spec(task: str, group: str) -> type[TransferTaskSpec]:
    attrs = {
        "name": f"vtab-{task}",
        "summary": f"VTAB-1k {group} task {task}: 1000 training examples, the full test split",
        "group": group,
        "locations": (f"vtab-1k/{task}",),
        "layout": f"vtab-1k/{task}/{{train,test}}/<class index>/<image> (train = train800val200, 1000 images)",
        "obtain": (
            "export with TFDS via google-research/task_adaptation (split train800val200 -> train, test -> test), "
            "one folder per integer label"
        ),
        "citation": "Zhai et al., arXiv 1910.04867 (VTAB)",
    }
    return type(f"Vtab_{task.replace('-', '_')}", (TransferTaskSpec,), attrs)


for _group, _tasks in VTAB_TASKS.items():
    for _task in _tasks:
        register_dataset(_vtab_spec(_task, _group))

DIGITS_TRAIN = 1000


def write_sklearn_digits(folder: Path) -> Path:
    """Write scikit-learn's bundled digits as 8×8 RGB PNGs into ``folder/{train,test}/<digit>/<index>.png``
    (pixel values 0–16 scaled to 0–255); written to a temporary folder and renamed, so never half-done."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".digits-", dir=folder.parent))
    try:
        for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
            split = "train" if i < DIGITS_TRAIN else "test"
            pixels = np.round(image * 255.0 / 16.0).astype(np.uint8)
            out = tmp / split / str(int(label)) / f"{i:04d}.png"
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.repeat(pixels[:, :, None], 3, axis=2)).save(out)
        os.replace(tmp, folder)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not folder.is_dir():
            raise
    return folder


@register_dataset
class SklearnDigits(TransferTaskSpec):
    name = "sklearn-digits"
    summary = "scikit-learn's 1,797 8×8 handwritten digits (10 classes; 1000 train / 797 test): smoke-scale, not VTAB"
    group = "smoke"
    expected_count = 1797
    locations = ("sklearn-digits",)
    layout = "sklearn-digits/{train,test}/<digit>/<index>.png (written from scikit-learn on first use)"
    obtain = "ships inside scikit-learn (`pip install scikit-learn`); written to the user cache on first use"
    citation = "Alpaydin & Kaynak, UCI optdigits (scikit-learn load_digits)"

    def find(self, root: Path) -> Path | None:
        found = super().find(root)
        if found is not None:
            return found
        cached = user_cache_dir() / "sklearn-digits"
        return cached if cached.is_dir() else write_sklearn_digits(cached)
