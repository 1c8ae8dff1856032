"""Classes that stand for a group of ImageNet classes: REFINED-BIAS's 10 shape and 10 texture classes (Kim et al.,
"On the Reliability of Cue Conflict and Beyond", 2026; ``set_class_mappings`` in the authors'
``refined_bias/utils.py``: "clock" = analog, digital and wall clock; "camera" = Polaroid and reflex camera;
"elephant" = African and Indian elephant), and the ``refined-bias`` label space: the arg-max over all 1000 logits
is correct when it is one of the image's group (the authors' ``top1_acc``). A dataset's labels are its classes'
positions in the sorted class list (``class_names``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from biasbench.core.errors import DatasetError
from biasbench.data.labels.imagenet import NUM_CLASSES, wnid_to_index
from biasbench.data.labels.spaces import LabelSpace, register_label_space

if TYPE_CHECKING:
    from biasbench.data.datasets import Dataset

# Class name -> its ImageNet WNIDs, exactly as the authors' ``set_class_mappings`` (refined_bias/utils.py).
SHAPE_CLASSES: dict[str, tuple[str, ...]] = {
    "balloon": ("n02782093",),
    "book": ("n06596364",),  # comic book
    "camera": ("n03976467", "n04069434"),  # Polaroid camera, reflex camera
    "cassette": ("n02978881",),
    "clock": ("n03196217", "n02708093", "n04548280"),  # digital, analog, wall clock
    "hourglass": ("n03544143",),
    "ipod": ("n03584254",),
    "mouse": ("n03793489",),  # computer mouse
    "revolver": ("n04086273",),
    "soccer_ball": ("n04254680",),
}
TEXTURE_CLASSES: dict[str, tuple[str, ...]] = {
    "brain_coral": ("n01917289",),
    "broccoli": ("n07714990",),
    "cheetah": ("n02130308",),
    "dishrag": ("n03207743",),
    "elephant": ("n02504458", "n02504013"),  # African, Indian elephant
    "honeycomb": ("n03530642",),
    "porcupine": ("n02346627",),
    "strawberry": ("n07745940",),
    "tiger": ("n02129604",),
    "zebra": ("n02391049",),
}


def class_names(classes: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """The class names in label order (sorted)."""
    return tuple(sorted(classes))


def group_members(classes: dict[str, tuple[str, ...]]) -> tuple[tuple[int, ...], ...]:
    """ImageNet indices of each class's WNIDs, in label order."""
    index = wnid_to_index()
    return tuple(tuple(index[w] for w in classes[name]) for name in class_names(classes))


def group_space(name: str, groups: tuple[tuple[int, ...], ...]) -> LabelSpace:
    """All 1000 logits, each ImageNet class standing for its group's label (-1: no group): the arg-max is
    correct when it is a member of the image's group (the authors' ``top1_acc``)."""
    label = [-1] * NUM_CLASSES
    for g, members in enumerate(groups):
        for m in members:
            label[m] = g
    return LabelSpace(name, column_labels=tuple(label), labels_are_imagenet=False)


@register_label_space("refined-bias")
def _refined_bias(dataset: Dataset | None) -> LabelSpace:
    classes = getattr(dataset.spec, "classes", None) if dataset is not None else None
    if not isinstance(classes, dict):
        raise DatasetError("the refined-bias label space is built from a REFINED-BIAS dataset's class groups")
    return group_space("refined-bias", group_members(classes))
