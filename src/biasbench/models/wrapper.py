"""The classifier wrapper every probe sees: RGB in [0,1] in, logits out, normalisation inside."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocess:
    """How an image becomes the model's input: resize the shorter side to ``resize``, centre-crop to
    ``input_size`` (height, width), both with ``interpolation``. Values stay in [0,1]."""

    input_size: tuple[int, int] = (224, 224)
    crop_pct: float = 0.875
    interpolation: str = "bilinear"

    @property
    def resize(self) -> int:
        """Shorter-side length before the centre crop (e.g. 256 for a 224 crop at 0.875)."""
        return int(round(min(self.input_size) / self.crop_pct))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_timm_config(cls, cfg: dict[str, Any]) -> Preprocess:
        _, h, w = cfg.get("input_size", (3, 224, 224))
        return cls((int(h), int(w)), float(cfg.get("crop_pct") or 0.875), cfg.get("interpolation", "bilinear"))


class Classifier(nn.Module):
    """Wraps a network so it consumes [0,1] RGB (N,3,H,W) and standardises internally.

    Every perturbation in biasbench acts on the [0,1] input, before this normalisation, as the studies
    define them (METHODS.md §1.1).
    """

    def __init__(
        self,
        net: nn.Module,
        *,
        name: str,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
        preprocess: Preprocess | None = None,
        fingerprint: str = "",
        source: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.net = net.eval()
        self.name = name
        self.preprocess = preprocess or Preprocess()
        self.fingerprint = fingerprint
        self.source = source or {}
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean.to(x.dtype)) / self.std.to(x.dtype))

    def describe(self) -> dict[str, Any]:
        """Provenance of this model for manifests."""
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "mean": self.mean.flatten().tolist(),
            "std": self.std.flatten().tolist(),
            "preprocess": self.preprocess.as_dict(),
            **self.source,
        }
