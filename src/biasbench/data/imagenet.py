"""The 1000 ImageNet-1k classes (WNIDs, standard sorted-WNID order) from timm's bundled files."""

from __future__ import annotations

from functools import cache

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
