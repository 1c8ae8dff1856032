"""The classes of the video robustness sets (Shankar et al. 2019) and how ImageNet logits become them:
ImageNet-Vid-Robust's 30 classes and YTBB-Robust's 24 indices, each a group of ImageNet classes read from the
dataset's own maps, scored by the max of their member logits (the original ``merge_op='max'``); a class without
ImageNet members can never be predicted. The original subtracts 1e10 from YTBB index 22 ("none") and would give
any other member-less class a logit of 0; the two agree when 22 is the only class without members in
``rev_class_idx_map.json`` (not verified against the released file). A frame is correct when the prediction is
in its label set (``Sample.meta["labels"]``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from biasbench.core.errors import DatasetError
from biasbench.data.labels.imagenet import wnid_to_index
from biasbench.data.labels.spaces import LabelSpace, register_label_space

if TYPE_CHECKING:
    from biasbench.data.datasets import Dataset, Sample


@dataclass(frozen=True)
class MaxMergeSpace(LabelSpace):
    """Video classes scored by the max of their member ImageNet logits; multi-label correctness."""

    groups: tuple[tuple[int, ...], ...] = ()
    labels_are_imagenet: bool = False

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        merged = torch.full((logits.shape[0], len(self.groups)), -torch.inf, device=logits.device)
        for c, members in enumerate(self.groups):
            if members:
                merged[:, c] = logits[:, list(members)].float().amax(dim=1)
        return torch.softmax(merged, dim=1)

    def label_of_columns(self, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.arange(len(self.groups), device=device)

    def hits(self, topk: np.ndarray, samples: Sequence[Sample], k: int) -> np.ndarray:
        return np.array(
            [bool(set(row[:k].tolist()) & set(s.meta["labels"])) for row, s in zip(topk, samples, strict=True)],
            dtype=bool,
        )


def read_json(path: Path, layout: str):
    """A JSON metadata file of a video set; a missing one is named with the set's expected ``layout``."""
    if not path.is_file():
        raise DatasetError(f"{path} is missing; expected layout: {layout}")
    return json.loads(path.read_text())


def vid_groups(folder: Path, layout: str) -> tuple[tuple[int, ...], ...]:
    """ImageNet indices merged into each of the 30 VID classes (from the dataset's misc/ maps)."""
    wnid_map = read_json(folder / "misc" / "wnid_map.json", layout)
    classes = read_json(folder / "misc" / "imagenet_vid_class_index.json", layout)
    vid_index = {v[0]: int(k) for k, v in classes.items()}
    index = wnid_to_index()
    groups: list[list[int]] = [[] for _ in range(len(classes))]
    for imagenet_wnid, vid_wnid in wnid_map.items():
        groups[vid_index[vid_wnid]].append(index[imagenet_wnid])
    return tuple(tuple(sorted(g)) for g in groups)


def ytbb_groups(folder: Path, layout: str) -> tuple[tuple[int, ...], ...]:
    """ImageNet indices merged into each YTBB-Robust index (from ``metadata/rev_class_idx_map.json``)."""
    members = read_json(folder / "metadata" / "rev_class_idx_map.json", layout)
    classes = read_json(folder / "metadata" / "ytbb_class_index.json", layout)
    return tuple(tuple(sorted(int(i) for i in members.get(str(c), ()))) for c in range(len(classes)))


@register_label_space("imagenet-vid-30")
def _vid_space(dataset: Dataset | None) -> LabelSpace:
    if dataset is None:
        raise DatasetError("the ImageNet-Vid-Robust label space is read from the dataset's misc/ maps; load it first")
    return MaxMergeSpace("imagenet-vid-30", groups=vid_groups(dataset.folder, dataset.spec.layout))


@register_label_space("ytbb-24")
def _ytbb_space(dataset: Dataset | None) -> LabelSpace:
    if dataset is None:
        raise DatasetError("the YTBB-Robust label space is read from metadata/rev_class_idx_map.json; load it first")
    return MaxMergeSpace("ytbb-24", groups=ytbb_groups(dataset.folder, dataset.spec.layout))
