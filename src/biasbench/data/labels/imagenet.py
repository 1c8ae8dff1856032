"""The 1000 ImageNet-1k classes (WNIDs, standard sorted-WNID order) and the class lists derived from them (the
200 ImageNet-A / -R classes, ReaL multi-labels), all from timm's bundled files."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

NUM_CLASSES = 1000


@cache
def imagenet_wnids() -> tuple[str, ...]:
    """WNIDs of the 1000 classes; index i is ImageNet class i."""
    from biasbench.core.torchvision_shim import ensure_torchvision_importable

    ensure_torchvision_importable()
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return tuple(info.index_to_label_name(i) for i in range(NUM_CLASSES))


@cache
def wnid_to_index() -> dict[str, int]:
    return {w: i for i, w in enumerate(imagenet_wnids())}


def timm_info_file(name: str) -> Path:
    """A file of timm's bundled ImageNet metadata (``timm/data/_info/<name>``)."""
    from biasbench.core.torchvision_shim import ensure_torchvision_importable

    ensure_torchvision_importable()
    import timm.data

    return Path(timm.data.__file__).parent / "_info" / name


@cache
def subset_wnids(which: str) -> tuple[str, ...]:
    """The 200 WNIDs of ImageNet-A (``"a"``) or ImageNet-R (``"r"``), from timm's bundled lists
    (Hendrycks et al.'s official class lists), in ImageNet index order."""
    path = timm_info_file(f"imagenet_{which}_synsets.txt")
    wnids = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    index = wnid_to_index()
    return tuple(sorted(wnids, key=index.__getitem__))


@cache
def subset_indices(which: str) -> tuple[int, ...]:
    """ImageNet indices (ascending) of the 200 ImageNet-A / -R classes."""
    index = wnid_to_index()
    return tuple(index[w] for w in subset_wnids(which))


@cache
def real_labels() -> tuple[tuple[int, ...], ...]:
    """ReaL multi-labels (Beyer et al. 2020) of the 50,000 val images, from timm's bundled copy of
    ``real.json``; entry i belongs to ``ILSVRC2012_val_{i+1:08d}.JPEG``."""
    data = json.loads(timm_info_file("imagenet_real_labels.json").read_text())
    return tuple(tuple(int(v) for v in row) for row in data)
