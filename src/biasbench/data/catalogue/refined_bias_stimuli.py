"""REFINED-BIAS's own stimuli (Kim et al., "On the Reliability of Cue Conflict and Beyond", 2026): pure-shape
and pure-texture images of 10 classes each, as the authors' repository (github.com/PumjunKim/REFINED-BIAS)
lays them out under ``refined_bias/datasets/``::

    refined_bias_shape/<class>/<class>_<i>.png          balloon, book, camera, ... (224 x 224)
    refined_bias_texture/<class>/<k>x<k>_<class>_<i>.png  brain_coral, broccoli, ... (224 x 224)

A class is a *group* of ImageNet classes (the tables and the ``refined-bias`` label space are
``biasbench.data.labels.class_groups``); labels are the class's position in the sorted class list, and the
``refined-bias`` probe ranks the group in the full ranking (``biasbench.data.labels.ranks``). The images are fed as
the authors do: resize 256, centre crop 224 (the model's preprocessing).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from biasbench.core.downloads import Download
from biasbench.data.catalogue.class_folders import ClassFolderSpec, class_folder_samples
from biasbench.data.datasets import Dataset, Sample, register_dataset
from biasbench.data.labels.class_groups import SHAPE_CLASSES, TEXTURE_CLASSES, class_names, group_members

REPOSITORY = "github.com/PumjunKim/REFINED-BIAS"
# The repository's archive (main branch; the authors publish no digest and no release, so none is pinned).
ARCHIVE = Download("https://github.com/PumjunKim/REFINED-BIAS/archive/refs/heads/main.zip")
CITATION = "Kim, Lee, Park, Han & Yoo, 'On the Reliability of Cue Conflict and Beyond' (REFINED-BIAS), arXiv 2603.10834"


class RefinedBiasSet(ClassFolderSpec):
    """One of the two REFINED-BIAS stimulus sets: ``<class>/<image>.png`` folders of its 10 classes."""

    label_space = "refined-bias"
    classes: ClassVar[dict[str, tuple[str, ...]]]
    cue: ClassVar[str]  # "shape" or "texture": the cue every image carries
    folder_name: ClassVar[str]
    citation = CITATION
    downloads = (ARCHIVE,)

    @classmethod
    def class_names(cls) -> tuple[str, ...]:
        """The class names in label order."""
        return class_names(cls.classes)

    @classmethod
    def group_members(cls) -> tuple[tuple[int, ...], ...]:
        """ImageNet indices of each class's WNIDs, in label order."""
        return group_members(cls.classes)

    def list_samples(self, folder: Path) -> list[Sample]:
        label = {name: i for i, name in enumerate(self.class_names())}
        return class_folder_samples(folder, label.get, layout=self.layout, meta={"cue": self.cue})

    def completeness(self, dataset: Dataset) -> list[str]:
        """The count checks, and every one of the 10 classes present (their image counts vary)."""
        problems = super().completeness(dataset)
        present = {s.label for s in dataset.samples}
        missing = [name for i, name in enumerate(self.class_names()) if i not in present]
        if missing:
            problems.append(
                f"dataset {self.name!r} at {dataset.folder} has no images of {', '.join(missing)}; "
                f"expected layout {self.layout}"
            )
        return problems


def _locations(folder: str) -> tuple[str, ...]:
    # the extracted main-branch archive, a git clone, or the folder on its own
    inner = f"refined_bias/datasets/{folder}"
    return (f"REFINED-BIAS-main/{inner}", f"REFINED-BIAS/{inner}", f"refined-bias/{folder}", folder)


_OBTAIN = (
    f"download {ARCHIVE.url} and extract it into the data root (it unpacks to REFINED-BIAS-main/), or clone "
    f"{REPOSITORY} there. The images are the authors' (see the repository's LICENSE)."
)


@register_dataset
class RefinedBiasShape(RefinedBiasSet):
    name = "refined-bias-shape"
    summary = "REFINED-BIAS pure-shape stimuli (10 classes, 224 px; ranked over all 1000 classes)"
    classes = SHAPE_CLASSES
    cue = "shape"
    folder_name = "refined_bias_shape"
    locations = _locations(folder_name)
    layout = "refined_bias_shape/<class>/<class>_<i>.png in 10 class folders (balloon ... soccer_ball)"
    obtain = _OBTAIN


@register_dataset
class RefinedBiasTexture(RefinedBiasSet):
    name = "refined-bias-texture"
    summary = "REFINED-BIAS pure-texture stimuli (10 classes, 224 px; ranked over all 1000 classes)"
    classes = TEXTURE_CLASSES
    cue = "texture"
    folder_name = "refined_bias_texture"
    locations = _locations(folder_name)
    layout = "refined_bias_texture/<class>/<k>x<k>_<class>_<i>.png in 10 class folders (brain_coral ... zebra)"
    obtain = _OBTAIN
