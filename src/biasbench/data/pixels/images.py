"""Decoding and preprocessing: image file → uint8 RGB tensor (3, H, W), decoded with Pillow.

Preprocessing follows the model's own config, run by timm's own evaluation transform (resize, then a centre
crop, squash or padded border crop), unless a dataset is fed at its native resolution (cue-conflict,
ImageNet-C), as the studies prescribe (METHODS.md §1.2).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from biasbench.core.errors import CorruptImageError
from biasbench.core.preprocessing import Preprocess
from biasbench.core.torchvision_shim import ensure_torchvision_importable
from biasbench.data.datasets import Dataset

# Images a classifier cannot see meaningfully: below this side length (8 px: the smallest images a benchmark
# here ships, scikit-learn's 8x8 digits), or longer than wide (or wide than tall) by more than this ratio (a
# 224-px centre crop of a 10000x10 strip is a smear of 10 rows). Refused like an undecodable file, named.
MIN_SIDE = 8
MAX_ASPECT = 20.0


def decode_rgb(path) -> Image.Image:
    """Open an image as 8-bit RGB (``to_rgb``), raising CorruptImageError naming the file when it cannot be
    decoded, when its pixels have no defined 8-bit meaning, or when it is too small or too elongated to show
    a classifier anything (``MIN_SIDE``, ``MAX_ASPECT``; checked from the header, before decoding)."""
    try:
        with Image.open(path) as im:
            check_size(im.size)
            im.load()
            return to_rgb(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise CorruptImageError(str(path), str(e) or type(e).__name__) from e


def check_size(size: tuple[int, int]) -> None:
    """Refuse (ValueError) an image smaller than ``MIN_SIDE`` or more elongated than ``MAX_ASPECT``."""
    width, height = size
    if min(width, height) < MIN_SIDE:
        raise ValueError(f"{width}x{height} px is below the minimum of {MIN_SIDE} px on a side")
    if max(width, height) / min(width, height) > MAX_ASPECT:
        raise ValueError(f"{width}x{height} px has an aspect ratio above {MAX_ASPECT:g}:1")


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB of any Pillow image, each mode by its meaning (tested against reference conversions):

    - 16-bit greyscale (``I;16*``, and ``I`` holding 16-bit values, as Pillow opens 16-bit PNGs): the high byte,
      ``v >> 8``, as OpenCV's ``imread`` (Pillow's own convert clips at 255: a blank white frame);
    - 32-bit float (``F``): values in [0, 1] scaled by 255 and rounded (scikit-image's convention); other
      ranges have no defined meaning and are refused, as is ``I`` beyond 16 bits;
    - with transparency (``RGBA``, ``LA``, ``PA``, premultiplied ``RGBa``/``La``, and palette, grey or RGB
      images with a ``transparency`` key): composited over white, as a viewer shows them (a plain convert
      would show whatever colour the transparent pixels hold);
    - every other mode (``L``, ``1``, ``P``, ``CMYK``, ``YCbCr``, ``HSV``, ``RGBX``): Pillow's convert, which
      is exact for them (CMYK: R = (255 − C)(255 − K)/255, rounded); ``LAB`` is refused (it needs a profile).
    """
    if image.mode == "LAB":  # Pillow's convert treats L*a*b* as if it were RGB
        raise ValueError("CIELAB pixels need a colour profile to become RGB; save the image as RGB")
    if image.mode in GREY_SCALES:
        return Image.fromarray(GREY_SCALES[image.mode](np.asarray(image))).convert("RGB")
    if "A" in image.mode or "a" in image.mode or "transparency" in image.info:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _high_byte(values: np.ndarray) -> np.ndarray:
    if values.min(initial=0) < 0 or values.max(initial=0) > 0xFFFF:
        raise ValueError(f"integer pixels in [{values.min()}, {values.max()}] are not 8- or 16-bit; save as 8-bit")
    return (values.astype(np.uint32) >> 8).astype(np.uint8)


def _unit_float(values: np.ndarray) -> np.ndarray:
    if not np.isfinite(values).all() or values.min(initial=0) < 0 or values.max(initial=0) > 1:
        raise ValueError("float pixels outside [0, 1] have no defined 8-bit value; save the image as 8-bit")
    return np.rint(values * 255).astype(np.uint8)


# Greyscale modes whose values Pillow's convert clips instead of scaling: mode → values → 8-bit grey.
GREY_SCALES = {"I;16": _high_byte, "I;16L": _high_byte, "I;16B": _high_byte, "I;16N": _high_byte, "I": _high_byte}
GREY_SCALES["F"] = _unit_float


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
    """The pixel pipeline of one (dataset, model) pair; its ``key`` (and ``cache_kind``) names the decoded-image
    cache entry."""

    # The pipeline's class in decoded-image cache keys (a subclass may decode differently): the module path the
    # class had when cache keys were first written, so that moving a class keeps every cache entry. A subclass
    # that does not name one gets its own module path.
    cache_kind: ClassVar[str] = "biasbench.data.images.ImageTransform"

    policy: str  # "model" or "native"
    preprocess: Preprocess

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "cache_kind" not in vars(cls):
            cls.cache_kind = f"{cls.__module__}.{cls.__qualname__}"

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
