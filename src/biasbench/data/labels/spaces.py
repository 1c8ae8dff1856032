"""Label spaces: how a model's 1000 ImageNet logits become predictions for a dataset, and how a prediction
is judged correct (METHODS.md §5.1, ANCHORS.md §3 pitfalls 1 and 10).

A label space names its **columns** (the classes a prediction can be), a probability over them, the label
each column stands for, and a correctness rule. Predictions are always expressed in the dataset's own label
coordinates, so the reduction is generic and only the space differs:

- ``imagenet``: 1000-way soft-max, correct when the arg-max equals the label.
- ``imagenet-a-200`` / ``imagenet-r-200``: the 200 member logits only (ImageNet index order); the arg-max
  over them is mapped back to its ImageNet index and compared with the (ImageNet-index) label.
- ``categories16``: model-vs-human's mean member probability per category (cue-conflict, Stylized).
- ``imagenet-real``: 1000-way; correct when the arg-max is in the image's ReaL label set; images with an
  empty set are not scored.
- ``objectnet-113``: the member logits of the overlapping classes; the arg-max member is mapped to its
  ObjectNet class (many-to-one, as imagenet-testbed scores it). Built from the dataset's own mapping files.
- ``downstream``: a transfer task's own classes; scored by the transfer probe, never from ImageNet logits.

Spaces read from a dataset's own class maps live beside this module: the video sets' max-merged classes
(``video_classes``) and REFINED-BIAS's class groups (``class_groups``).

A model whose head scores a space's classes directly (a zero-shot head over the 16 category names, the
Classifier's ``head``) is scored in that space's ``HeadSpace``: the soft-max over its own logits
(``label_space_for(dataset, head)``).

Register a new space with ``@register_label_space("name")`` on a factory ``(dataset) -> LabelSpace`` in a module
of ``biasbench.data.labels`` (or of a plug-in listed under the ``biasbench.label_spaces`` entry points).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from biasbench.core.errors import DatasetError, HeadSizeError
from biasbench.core.registry import Registry
from biasbench.data.labels.categories16 import CATEGORIES16, category_probabilities
from biasbench.data.labels.imagenet import NUM_CLASSES, subset_indices, wnid_to_index
from biasbench.data.labels.objectnet import objectnet_folder_wnids

if TYPE_CHECKING:
    from biasbench.data.datasets import Dataset, Sample


@dataclass(frozen=True)
class LabelSpace:
    """Columns of the 1000 logits a prediction may take, the label each column stands for, and the rule."""

    name: str
    columns: tuple[int, ...] | None = None  # None: all 1000 logits
    column_labels: tuple[int, ...] | None = None  # label of each column; None: the column index itself
    labels_are_imagenet: bool = True  # sample labels are ImageNet-1k indices (attacks and p_label need this)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, C) probabilities over the space's columns (soft-max restricted to them)."""
        if self.columns is not None:
            logits = logits[:, list(self.columns)]
        return torch.softmax(logits.float(), dim=1)

    def label_of_columns(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """(C,) label value of each column."""
        if self.column_labels is not None:
            return torch.tensor(self.column_labels, dtype=torch.long, device=device)
        n = len(self.columns) if self.columns is not None else NUM_CLASSES
        return torch.arange(n, device=device)

    def outputs(self, logits: torch.Tensor, labels: torch.Tensor, k: int = 5) -> dict[str, torch.Tensor]:
        """Per-sample outputs in label coordinates: top-k predicted labels and their probabilities, the
        probability of the label (summed over its columns) and the squared-probability sum."""
        probs = self.probabilities(logits)
        top_p, top_i = probs.topk(min(k, probs.shape[1]), dim=1)
        col_labels = self.label_of_columns(probs.device)
        is_label = col_labels[None, :] == labels[:, None]
        return {
            "topk": col_labels[top_i].to(torch.int16),
            "topk_prob": top_p,
            "p_label": (probs * is_label).sum(1),
            "sum_p2": (probs * probs).sum(1),
        }

    @property
    def num_logits(self) -> int:
        """How many logits a model must output for this space (every space reads ImageNet-1k logits)."""
        return NUM_CLASSES

    def check_head(self, num_logits: int, model: str, dataset: str) -> None:
        """Raise HeadSizeError, naming the model, the dataset and the fix, when a model's head does not give
        the logits this space reads."""
        if num_logits != self.num_logits:
            raise HeadSizeError(
                f"model {model} outputs {num_logits} classes, but {dataset} needs {self.num_logits} ImageNet "
                "logits. Use a model with an ImageNet-1k head."
            )

    def reducer(self, k: int = 5, *, model: str = "the model", dataset: str = "this dataset") -> Callable:
        """An engine reducer ``(logits, batch) -> outputs`` for this space; it checks the head size first
        (``model`` and ``dataset`` name the pair in the error)."""

        def reduce(logits: torch.Tensor, batch) -> dict[str, torch.Tensor]:
            self.check_head(logits.shape[1], model, dataset)
            return self.outputs(logits, batch.labels, k)

        return reduce

    def scored(self, samples: Sequence[Sample]) -> np.ndarray:
        """Which samples count towards accuracy (all, unless the space says otherwise)."""
        return np.ones(len(samples), dtype=bool)

    def hits(self, topk: np.ndarray, samples: Sequence[Sample], k: int) -> np.ndarray:
        """(N,) whether the label is among the first ``k`` predictions."""
        labels = np.array([s.label for s in samples], dtype=np.int64)
        return (topk[:, :k] == labels[:, None]).any(axis=1)


@dataclass(frozen=True)
class Categories16Space(LabelSpace):
    """model-vs-human 16 categories: mean member probability per category (``biasbench.data.labels.categories16``);
    the top-1 column is the 16-category decision."""

    labels_are_imagenet: bool = False

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return category_probabilities(logits)

    def label_of_columns(self, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.arange(len(CATEGORIES16), device=device)


@dataclass(frozen=True)
class RealSpace(LabelSpace):
    """ReaL: correct when the prediction is in the image's ReaL set (``sample.meta["real"]``); images whose
    set is empty are left out (of accuracy and calibration alike).

    The per-sample probabilities treat the set as one merged class ("the prediction is right"):
    ``p_label`` = P(S) = Σ_{c∈S} p_c and ``sum_p2`` = Σ q² of the merged distribution
    q = (P(S), p_c for c ∉ S), so NLL = −log P(S) and Brier = Σ q² − 2·P(S) + 1 = (1 − P(S))² + Σ_{c∉S} p_c².
    With a one-label set both are the usual single-label values. ``label_sets`` holds the sets of the
    dataset's samples in dataset order (``label_space_for(dataset)`` fills it)."""

    label_sets: tuple[tuple[int, ...], ...] = field(default=(), repr=False, compare=False)

    def scored(self, samples: Sequence[Sample]) -> np.ndarray:
        return np.array([len(s.meta.get("real", ())) > 0 for s in samples], dtype=bool)

    def hits(self, topk: np.ndarray, samples: Sequence[Sample], k: int) -> np.ndarray:
        return np.array(
            [bool(set(row[:k].tolist()) & set(s.meta.get("real", ()))) for row, s in zip(topk, samples, strict=True)],
            dtype=bool,
        )

    def set_outputs(self, logits: torch.Tensor, labels: torch.Tensor, sets: torch.Tensor, k: int = 5) -> dict:
        """``outputs`` with ``p_label`` and ``sum_p2`` of the merged set class; ``sets`` is (N, m), padded
        with -1."""
        out = self.outputs(logits, labels, k)
        probs = self.probabilities(logits)
        classes = torch.arange(probs.shape[1], device=probs.device)
        member = (sets[:, :, None] == classes[None, None, :]).any(1)  # (N, C); -1 matches nothing
        p_set = (probs * member).sum(1)
        out["p_label"] = p_set
        out["sum_p2"] = p_set * p_set + (probs * probs * ~member).sum(1)
        return out

    def reducer(self, k: int = 5, *, model: str = "the model", dataset: str = "this dataset") -> Callable:
        if not self.label_sets:
            raise DatasetError(
                "the ReaL label space needs the dataset's ReaL sets; build it with label_space_for(dataset)"
            )
        width = max(1, max(len(s) for s in self.label_sets))
        table = torch.full((len(self.label_sets), width), -1, dtype=torch.long)
        for i, labels in enumerate(self.label_sets):
            table[i, : len(labels)] = torch.tensor(labels, dtype=torch.long)
        on_device: dict[torch.device, torch.Tensor] = {}

        def reduce(logits: torch.Tensor, batch) -> dict[str, torch.Tensor]:
            self.check_head(logits.shape[1], model, dataset)
            sets = on_device.setdefault(logits.device, table.to(logits.device))[batch.indices.to(logits.device)]
            return self.set_outputs(logits, batch.labels, sets, k)

        return reduce


@dataclass(frozen=True)
class HeadSpace(LabelSpace):
    """A space whose classes are the model's logits, in column order (a zero-shot head over the class names):
    soft-max over all of them; correct when the arg-max is the label."""

    size: int = 0
    labels_are_imagenet: bool = False

    @property
    def num_logits(self) -> int:
        return self.size

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.softmax(logits.float(), dim=1)

    def label_of_columns(self, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.arange(self.size, device=device)


# Label spaces a head can score directly (the Classifier's ``head``), with their number of classes.
HEAD_SPACES: dict[str, int] = {"categories16": len(CATEGORIES16)}
LABEL_SPACES: Registry[Callable[[Dataset | None], LabelSpace]] = Registry(
    "label space", packages=("biasbench.data.labels",), group="biasbench.label_spaces"
)
"""Label-space factories by name: the modules of ``biasbench.data.labels`` and the ``biasbench.label_spaces``
plug-ins."""


def register_label_space(name: str) -> Callable:
    """Decorator registering a factory ``(dataset or None) -> LabelSpace`` under ``name``."""
    return LABEL_SPACES.decorator(name)


def get_label_space(name: str, dataset: Dataset | None = None) -> LabelSpace:
    """The label space ``name``, built for ``dataset`` (spaces such as ObjectNet read its mapping files)."""
    return LABEL_SPACES[name](dataset)


def label_space_for(dataset: Dataset, head: str = "imagenet") -> LabelSpace:
    """The label space a dataset declares (``DatasetSpec.label_space``), as a model with ``head`` gives it:
    read from the 1000 ImageNet logits (``"imagenet"``), or the ``HeadSpace`` of a head that scores the
    space's classes directly."""
    space = get_label_space(dataset.spec.label_space, dataset)
    if head == "imagenet":
        return space
    if head != space.name or head not in HEAD_SPACES:
        raise HeadSizeError(
            f"{dataset.name} is scored in the {space.name} label space, which a head over the {head} classes does "
            "not give; use a model with an ImageNet-1k head (a zero-shot openclip: model with ?head=imagenet)."
        )
    return HeadSpace(head, size=HEAD_SPACES[head])


@register_label_space("imagenet")
def _imagenet(_: Dataset | None) -> LabelSpace:
    return LabelSpace("imagenet")


@register_label_space("imagenet-real")
def _real(dataset: Dataset | None) -> LabelSpace:
    sets = tuple(tuple(int(c) for c in s.meta.get("real", ())) for s in dataset.samples) if dataset else ()
    return RealSpace("imagenet-real", label_sets=sets)


@register_label_space("categories16")
def _categories16(_: Dataset | None) -> LabelSpace:
    return Categories16Space("categories16")


def _subset_space(which: str) -> Callable[[Dataset | None], LabelSpace]:
    def factory(_: Dataset | None) -> LabelSpace:
        members = subset_indices(which)
        return LabelSpace(f"imagenet-{which}-200", columns=members, column_labels=members)

    return factory


register_label_space("imagenet-a-200")(_subset_space("a"))
register_label_space("imagenet-r-200")(_subset_space("r"))


def objectnet_space(folder_wnids: dict[str, tuple[str, ...]]) -> LabelSpace:
    """Member columns (ImageNet order) mapped to ObjectNet class indices (folders in sorted order)."""
    index = wnid_to_index()
    target = {}
    for cls, folder in enumerate(sorted(folder_wnids)):
        for wnid in folder_wnids[folder]:
            target[index[wnid]] = cls
    members = tuple(sorted(target))
    return LabelSpace("objectnet-113", members, tuple(target[m] for m in members), labels_are_imagenet=False)


@register_label_space("objectnet-113")
def _objectnet(dataset: Dataset | None) -> LabelSpace:
    if dataset is None:
        raise DatasetError("the ObjectNet label space is built from the dataset's mapping files; load objectnet first")
    return objectnet_space(objectnet_folder_wnids(dataset.folder / "mappings"))


@register_label_space("downstream")
def _downstream(dataset: Dataset | None) -> LabelSpace:
    name = dataset.name if dataset is not None else "this dataset"
    raise DatasetError(
        f"{name} is a downstream task with its own classes, not ImageNet's: evaluate it with the transfer probe"
    )
