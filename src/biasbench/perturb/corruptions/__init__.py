"""On-the-fly common corruptions: all 19 of Hendrycks & Dietterich's ImageNet-C (15 standard + 4 extra),
with ImageNet-C's 224-px severity parameters (``make_imagenet_c.py``), batched in torch where the operation
allows it (on the CPU: glass blur's pixel copying, vectorised over the batch; pixelate, JPEG and spatter's
water drops per image with PIL / OpenCV).

Every random draw is seeded by (seed, dataset index, corruption, severity), so results do not depend on batch
size or device. These are re-implementations checked against the ``imagecorruptions`` package (tests): they
are *not* the released ImageNet-C JPEGs, so results are recorded as ``generated``, never mixed with
``ondisk`` ones (ANCHORS.md §3 pitfall 9). Where ``imagecorruptions`` departs from ImageNet-C's own code
(elastic transform, frost's rescaling, pixelate's enlargement) the ImageNet-C code is followed; motion blur
(ImageMagick in the original) follows imagecorruptions' NumPy version.

The corruptions register themselves (``@register_corruption``) in ``noise``, ``blur``, ``weather`` and ``digital``;
the registry (``CORRUPTIONS``) imports them on its first lookup. Adding one is a decorated function there (or in a
plug-in listed under the ``biasbench.corruptions`` entry points); its ``imagenet_c`` number puts it in the
probe's default ImageNet-C set.
"""

from __future__ import annotations

from biasbench.perturb.corruptions.registry import (
    CORRUPTIONS,
    SAVE_AS,
    Corruption,
    corruption_perturbation,
    get_corruption,
    imagenet_c_corruptions,
    register_corruption,
)

__all__ = [
    "CORRUPTIONS",
    "SAVE_AS",
    "Corruption",
    "corruption_perturbation",
    "get_corruption",
    "imagenet_c_corruptions",
    "register_corruption",
]
