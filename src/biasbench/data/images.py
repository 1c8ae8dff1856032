"""Decoding and preprocessing: image file → uint8 RGB tensor (3, H, W), decoded with Pillow.

Preprocessing follows the model's own config (resize the shorter side, centre crop) unless a dataset is
fed at its native resolution (cue-conflict, ImageNet-C), as the studies prescribe (METHODS.md §1.2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from biasbench.data.datasets import Dataset
from biasbench.errors import CorruptImageError
from biasbench.models.wrapper import Preprocess

_RESAMPLE = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
    "lanczos": Image.Resampling.LANCZOS,
}


def decode_rgb(path) -> Image.Image:
    """Open an image as RGB, raising CorruptImageError naming the file when it cannot be decoded."""
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise CorruptImageError(str(path), str(e) or type(e).__name__) from e


def resize_center_crop(image: Image.Image, preprocess: Preprocess) -> Image.Image:
    """Resize the shorter side to ``preprocess.resize`` and centre-crop to ``preprocess.input_size``."""
    resample = _RESAMPLE.get(preprocess.interpolation, Image.Resampling.BILINEAR)
    w, h = image.size
    short = preprocess.resize
    if w <= h:
        new_w, new_h = short, int(short * h / w)
    else:
        new_w, new_h = int(short * w / h), short
    image = image.resize((new_w, new_h), resample)
    crop_h, crop_w = preprocess.input_size
    # torchvision's CenterCrop rounding: top = round((H - h) / 2)
    top, left = int(round((new_h - crop_h) / 2.0)), int(round((new_w - crop_w) / 2.0))
    return image.crop((left, top, left + crop_w, top + crop_h))


def to_uint8_tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1).contiguous()


@dataclass(frozen=True)
class ImageTransform:
    """The pixel pipeline of one (dataset, model) pair; its ``key`` names the decoded-image cache entry."""

    policy: str  # "model" or "native"
    preprocess: Preprocess

    def __call__(self, path) -> torch.Tensor:
        image = decode_rgb(path)
        if self.policy == "model":
            image = resize_center_crop(image, self.preprocess)
        return to_uint8_tensor(image)

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
