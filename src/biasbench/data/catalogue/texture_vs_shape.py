"""Geirhos et al.'s texture-vs-shape stimuli (ICLR 2019; model-vs-human, NeurIPS 2021): the 1,280 cue-conflict
images and the 160 edge drawings and filled silhouettes, in 16 categories, fed at their native 224 px."""

from __future__ import annotations

from pathlib import Path

from biasbench.core.downloads import Download
from biasbench.core.errors import DatasetError
from biasbench.data.datasets import DatasetSpec, Sample, image_files, register_dataset
from biasbench.data.labels.categories16 import CATEGORIES16


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
