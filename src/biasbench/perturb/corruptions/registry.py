"""The corruption registry, the engine perturbation wrapper and the storage formats (``save_as``)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from biasbench.core.errors import UnknownNameError
from biasbench.perturb.corruptions.draws import Draws

Apply = Callable[[torch.Tensor, object, Draws], torch.Tensor]
"""(images in [0,1] (N,3,H,W), severity parameter, random source) → corrupted images (clamped by the caller)."""


@dataclass(frozen=True)
class Corruption:
    """A named corruption with its five ImageNet-C severity parameters."""

    name: str
    params: tuple
    apply: Apply

    def __call__(self, x: torch.Tensor, severity: int, indices: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """Corrupt ``x`` (N,3,H,W) in [0,1] at ``severity`` (1..5); sample i is seeded by (seed, indices[i])."""
        if not 1 <= severity <= len(self.params):
            raise ValueError(f"severity must be 1..{len(self.params)}, got {severity}")
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"corruptions take RGB batches of shape (N,3,H,W), got {tuple(x.shape)}")
        draws = Draws(int(seed), indices, self.name, severity)
        return self.apply(x, self.params[severity - 1], draws).clamp(0.0, 1.0)


CORRUPTIONS: dict[str, Corruption] = {}


def register_corruption(name: str, params: tuple) -> Callable[[Apply], Apply]:
    """Register ``fn`` under ``name`` with its five severity parameters."""

    def wrap(fn: Apply) -> Apply:
        CORRUPTIONS[name] = Corruption(name, params, fn)
        return fn

    return wrap


def get_corruption(name: str) -> Corruption:
    if name not in CORRUPTIONS:
        raise UnknownNameError("corruption", name, CORRUPTIONS)
    return CORRUPTIONS[name]


# --- storage formats ---------------------------------------------------------------------------------


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """ImageNet-C's ``np.uint8(img)``: truncation of the 0-255 values (a tiny epsilon absorbs float error)."""
    return torch.floor(x.clamp(0, 1) * 255.0 + 1e-3).clamp_(0, 255).to(torch.uint8)


def jpeg_roundtrip(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode each image of ``x`` in [0,1] as a PIL JPEG at ``quality`` and decode it (CPU, per image)."""
    arrays = to_uint8(x).permute(0, 2, 3, 1).cpu().numpy()
    out = []
    for a in arrays:
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=int(quality))
        buf.seek(0)
        out.append(np.asarray(Image.open(buf).convert("RGB"), dtype=np.uint8))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(x.device, x.dtype) / 255.0


SAVE_AS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "float": lambda x: x,
    "uint8": lambda x: to_uint8(x).to(x.dtype) / 255.0,
    "jpeg85": lambda x: jpeg_roundtrip(x, 85),  # the released ImageNet-C files: uint8, then JPEG quality 85
}
"""How a corrupted image is stored before the model sees it."""


def corruption_perturbation(
    name: str, severity: int, seed: int = 0, save_as: str = "float"
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """An engine perturbation ``(x01, indices) -> x01`` applying one corruption at one severity, then storing
    the result as ``save_as`` (``float``: as computed; ``uint8``: truncated to 8 bits; ``jpeg85``: 8 bits then
    a quality-85 JPEG round trip, as the released ImageNet-C files)."""
    corruption = get_corruption(name)
    if save_as not in SAVE_AS:
        raise UnknownNameError("save_as format", save_as, SAVE_AS)
    store = SAVE_AS[save_as]

    def perturb(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return store(corruption(x, severity, indices, seed))

    return perturb
