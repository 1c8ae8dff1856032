"""Decoding and preprocessing: image file → uint8 RGB tensor (3, H, W), decoded with Pillow.

Preprocessing follows the model's own config, run by timm's own evaluation transform (resize, then a centre
crop, squash or padded border crop), unless a dataset is fed at its native resolution (cue-conflict,
ImageNet-C), as the studies prescribe (METHODS.md §1.2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from biasbench.core.errors import CorruptImageError
from biasbench.core.preprocessing import Preprocess
from biasbench.core.torchvision_shim import ensure_torchvision_importable
from biasbench.data.datasets import Dataset


def decode_rgb(path) -> Image.Image:
    """Open an image as RGB, raising CorruptImageError naming the file when it cannot be decoded."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise CorruptImageError(str(path), str(e) or type(e).__name__) from e


@lru_cache(maxsize=64)
def eval_transform(preprocess: Preprocess) -> Callable[[Image.Image], torch.Tensor]:
    """timm's own evaluation transform for ``preprocess`` (``timm.data.transforms_imagenet_eval``: resize,
    crop or pad per ``crop_mode``), ending in uint8 pixels instead of ToTensor + Normalize (its prefetcher
    variant: a uint8 tensor in current timm, a uint8 CHW array where that step is still ``ToNumpy``)."""
    ensure_torchvision_importable()
    from timm.data.transforms_factory import transforms_imagenet_eval

    return transforms_imagenet_eval(
        img_size=preprocess.input_size,
        crop_pct=preprocess.crop_pct,
        crop_mode=preprocess.crop_mode,
        interpolation=preprocess.interpolation,
        mean=tuple(v / 255 for v in preprocess.fill),  # timm pads "border" crops with round(255 * mean)
        use_prefetcher=True,
    )


def model_pixels(image: Image.Image, preprocess: Preprocess) -> torch.Tensor:
    """The model's input crop of an RGB image as a uint8 tensor (3, H, W): exactly timm's evaluation
    transform before ToTensor's division by 255 and the normalisation (which the Classifier does)."""
    return torch.as_tensor(eval_transform(preprocess)(image)).contiguous()


def to_uint8_tensor(image: Image.Image) -> torch.Tensor:
    """An RGB image at its own size as a uint8 tensor (3, H, W)."""
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


@dataclass(frozen=True)
class ImageTransform:
    """The pixel pipeline of one (dataset, model) pair; its ``key`` names the decoded-image cache entry."""

    policy: str  # "model" or "native"
    preprocess: Preprocess

    def __call__(self, path) -> torch.Tensor:
        image = decode_rgb(path)
        return model_pixels(image, self.preprocess) if self.policy == "model" else to_uint8_tensor(image)

    @property
    def key(self) -> dict:
        return {"policy": self.policy, **(self.preprocess.as_dict() if self.policy == "model" else {})}


class ImageDataset(torch.utils.data.Dataset):
    """Torch dataset of (index, uint8 image, ok). With ``skip_corrupt`` an undecodable file yields
    ``ok=False`` and a blank image so the batch survives; otherwise its CorruptImageError propagates."""

    def __init__(self, dataset: Dataset, transform: ImageTransform, skip_corrupt: bool = False):
        self.samples = dataset.samples
        self.transform = transform
        self.skip_corrupt = skip_corrupt

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int):
        try:
            return i, self.transform(self.samples[i].path), True
        except CorruptImageError:
            if not self.skip_corrupt:
                raise
            return i, None, False


def collate(items):
    """Stack decoded images; corrupt items (image None) are reported by index and left out."""
    good = [(i, img) for i, img, ok in items if ok]
    bad = [i for i, _, ok in items if not ok]
    if good:
        shapes = {tuple(img.shape) for _, img in good}
        if len(shapes) > 1:
            raise CorruptImageError(
                "batch", f"images of different sizes {sorted(shapes)} in a dataset fed at native resolution"
            )
        indices = torch.tensor([i for i, _ in good], dtype=torch.long)
        images = torch.stack([img for _, img in good])
    else:
        indices, images = torch.zeros(0, dtype=torch.long), torch.zeros(0, 3, 1, 1, dtype=torch.uint8)
    return indices, images, bad
