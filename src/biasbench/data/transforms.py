"""Per-dataset pixel pipelines beyond the default ``ImageTransform``: ObjectNet's border crop, and
``transform_for``, which picks a dataset's pipeline from its declared attributes."""

from __future__ import annotations

from dataclasses import dataclass

from biasbench.data.datasets import Dataset
from biasbench.data.images import ImageTransform, decode_rgb, model_pixels, to_uint8_tensor


@dataclass(frozen=True)
class BorderCropTransform(ImageTransform):
    """Crop ``border`` pixels from every side before the model's resize/crop (ObjectNet's 1-px red frame,
    smeared by JPEG, hence 2 px as in imagenet-testbed)."""

    border: int = 2

    def __call__(self, path):
        image = decode_rgb(path)
        w, h = image.size
        image = image.crop((self.border, self.border, w - self.border, h - self.border))
        return model_pixels(image, self.preprocess) if self.policy == "model" else to_uint8_tensor(image)

    @property
    def key(self) -> dict:
        return {**super().key, "border": self.border}


def transform_for(dataset: Dataset, model) -> ImageTransform | None:
    """The dataset's pixel pipeline when it needs more than the engine default (None otherwise)."""
    border = dataset.spec.border_crop
    return BorderCropTransform(dataset.spec.resize_policy, model.preprocess, border) if border else None
