"""How an image becomes a model's input: the preprocessing config (timm's evaluation transform fields) and the
ImageNet normalisation constants. A leaf module: data/ applies the config, models/ attach it to a classifier."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from biasbench.core.errors import BiasbenchError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CROP_MODES = ("center", "squash", "border")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")


def mean_fill(mean: tuple[float, ...]) -> tuple[int, int, int]:
    """The uint8 colour timm pads with in ``crop_mode="border"``: ``round(255 * mean)`` per channel."""
    r, g, b = (round(255 * float(v)) for v in mean)
    return r, g, b


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes the model's input, with exactly the fields of timm's evaluation transform
    (``timm.data.transforms_imagenet_eval``), which biasbench runs on the decoded Pillow image:

    - ``resize = floor(input_size / crop_pct)`` per side, as timm computes it (224 at 0.95 → 235, at 0.875 → 256);
    - ``crop_mode="center"``: resize the shorter side to ``resize`` keeping the aspect ratio, centre-crop
      ``input_size`` (height, width); ``"squash"``: resize to ``resize`` (H, W) ignoring the aspect ratio,
      centre-crop; ``"border"``: resize the longer side to ``resize`` keeping the aspect ratio, centre-crop
      or pad with ``fill`` (the normalisation mean as uint8, timm's choice) to ``input_size``;
    - ``interpolation`` is Pillow's filter of that name.

    Values stay in [0,1]; normalisation happens inside the Classifier.
    """

    input_size: tuple[int, int] = (224, 224)
    crop_pct: float = 0.875
    interpolation: str = "bilinear"
    crop_mode: str = "center"
    fill: tuple[int, int, int] = mean_fill(IMAGENET_MEAN)

    def __post_init__(self) -> None:
        size = tuple(int(v) for v in self.input_size)
        if len(size) != 2 or min(size) < 1:
            raise BiasbenchError(f"Preprocess input_size must be (height, width) > 0, got {self.input_size!r}")
        if not self.crop_pct > 0:
            raise BiasbenchError(
                f"Preprocess crop_pct must be > 0 (timm uses e.g. 0.875, 0.95, 1.0), got {self.crop_pct}"
            )
        if self.crop_mode not in CROP_MODES:
            raise BiasbenchError(f"Preprocess crop_mode {self.crop_mode!r} is not one of {', '.join(CROP_MODES)}")
        if self.interpolation not in INTERPOLATIONS:
            raise BiasbenchError(
                f"Preprocess interpolation {self.interpolation!r} is not one of {', '.join(INTERPOLATIONS)}"
            )
        fill = tuple(int(v) for v in self.fill)
        if len(fill) != 3 or not all(0 <= v <= 255 for v in fill):
            raise BiasbenchError(f"Preprocess fill must be three uint8 values (R, G, B), got {self.fill!r}")
        object.__setattr__(self, "input_size", size)
        object.__setattr__(self, "crop_pct", float(self.crop_pct))
        object.__setattr__(self, "fill", fill)

    @property
    def resize(self) -> tuple[int, int]:
        """(height, width) the image is scaled to before the crop: ``floor(input_size / crop_pct)`` as timm
        computes it (e.g. (256, 256) for a 224 crop at 0.875, (235, 235) at 0.95)."""
        h, w = self.input_size
        return math.floor(h / self.crop_pct), math.floor(w / self.crop_pct)

    def as_dict(self) -> dict[str, Any]:
        """Every field plus the derived ``resize``: what job keys and decoded-cache keys cover."""
        return {**asdict(self), "resize": list(self.resize)}

    @classmethod
    def from_timm_config(cls, cfg: dict[str, Any]) -> Preprocess:
        """From a timm data config (``timm.data.resolve_data_config`` / ``resolve_model_data_config``) or a
        pretrained_cfg dict; keys it lacks keep the defaults above."""
        _, h, w = cfg.get("input_size", (3, 224, 224))
        return cls(
            (int(h), int(w)),
            float(cfg.get("crop_pct") or 0.875),
            cfg.get("interpolation") or "bilinear",
            cfg.get("crop_mode") or "center",
            mean_fill(cfg.get("mean") or IMAGENET_MEAN),
        )
