"""The classifier wrapper every probe sees: RGB in [0,1] in, logits out, normalisation inside."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from biasbench.core.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocess


class Classifier(nn.Module):
    """Wraps a network so it consumes [0,1] RGB (N,3,H,W) and standardises internally.

    Every perturbation in biasbench acts on the [0,1] input, before this normalisation, as the studies
    define them (METHODS.md §1.1).

    ``head`` names the classes the logits stand for: ``"imagenet"`` (the 1000 ImageNet-1k classes, which every
    label space reads its columns from) or the label space whose classes a zero-shot head scores directly
    (``"categories16"``: model-vs-human's 16 category names, see ``biasbench.models.zero_shot``).
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
        head: str = "imagenet",
    ):
        super().__init__()
        self.net = net.eval()
        self.name = name
        self.preprocess = preprocess or Preprocess()
        self.fingerprint = fingerprint
        self.source = source or {}
        self.head = head
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
            "head": self.head,
            **self.source,
        }
