"""Per-dataset pixel pipelines: ObjectNet's border crop, and ``image_transform``, which picks a dataset's pipeline
for a model's preprocessing from the dataset's declared attributes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from biasbench.core.preprocessing import Preprocess
from biasbench.data.datasets import Dataset
from biasbench.data.pixels.images import ImageTransform, decode_rgb, model_pixels, to_uint8_tensor


@dataclass(frozen=True)
class BorderCropTransform(ImageTransform):
    """Crop ``border`` pixels from every side before the model's resize/crop (ObjectNet's 1-px red frame,
    smeared by JPEG, hence 2 px as in imagenet-testbed)."""

    cache_kind: ClassVar[str] = "biasbench.data.transforms.BorderCropTransform"  # its path when keys were set

    border: int = 2

    def __call__(self, path):
        image = decode_rgb(path)
        w, h = image.size
        image = image.crop((self.border, self.border, w - self.border, h - self.border))
        return model_pixels(image, self.preprocess) if self.policy == "model" else to_uint8_tensor(image)

    @property
    def key(self) -> dict:
        return {**super().key, "border": self.border}


def image_transform(dataset: Dataset, preprocess: Preprocess) -> ImageTransform:
    """The pixel pipeline of ``dataset`` for a model's ``preprocess``: its border crop (ObjectNet) when it
    declares one, then the preprocessing at the dataset's resize policy (native resolution or the model's)."""
    spec = dataset.spec
    if spec.border_crop:
        return BorderCropTransform(spec.resize_policy, preprocess, spec.border_crop)
    return ImageTransform(spec.resize_policy, preprocess)
