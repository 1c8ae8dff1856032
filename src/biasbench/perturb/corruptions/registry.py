"""The corruption registry, the engine perturbation wrapper and the storage formats (``save_as``).

Storage follows ``make_imagenet_c.py``, which saves ``Image.fromarray(np.uint8(img))`` as a quality-85 JPEG: the
corruption is computed in float64 from the exact 8-bit image (``np.array(img) / 255.``), and its clipped
float output is *truncated* to 8 bits as ``np.uint8`` does. Where ImageNet-C's function already returns 8-bit
pixels (pixelate and JPEG through PIL, motion blur through ImageMagick) they are kept as they are
(``Corruption.rounding = "round"``: the nearest level, which recovers them exactly).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from biasbench.core.errors import UnknownNameError
from biasbench.core.registry import Registry
from biasbench.perturb.corruptions.draws import Draws

Apply = Callable[[torch.Tensor, object, Draws], torch.Tensor]
"""(images in [0,1] (N,3,H,W), severity parameter, random source) → corrupted images (clamped by the caller)."""


ROUNDINGS = ("truncate", "round")


@dataclass(frozen=True)
class Corruption:
    """A named corruption with its five ImageNet-C severity parameters. ``rounding`` is how its output becomes
    8 bits when stored: ``"truncate"`` (ImageNet-C's ``np.uint8`` of a float image) or ``"round"`` (ImageNet-C's
    function returned 8-bit pixels already). ``imagenet_c`` is its number in ImageNet-C (1-15 the standard
    corruptions, 16-19 the extra ones; 0 for one outside the benchmark, such as a variant)."""

    name: str
    params: tuple
    apply: Apply
    rounding: str = "truncate"
    imagenet_c: int = 0

    def __call__(self, x: torch.Tensor, severity: int, indices: torch.Tensor, seed: int = 0) -> torch.Tensor:
        """Corrupt ``x`` (N,3,H,W) in [0,1] at ``severity`` (1..5); sample i is seeded by (seed, indices[i])."""
        if not 1 <= severity <= len(self.params):
            raise ValueError(f"severity must be 1..{len(self.params)}, got {severity}")
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"corruptions take RGB batches of shape (N,3,H,W), got {tuple(x.shape)}")
        draws = Draws(int(seed), indices, self.name, severity)
        return self.apply(x, self.params[severity - 1], draws).clamp(0.0, 1.0)


CORRUPTIONS: Registry[Corruption] = Registry(
    "corruption", packages=("biasbench.perturb.corruptions",), group="biasbench.corruptions"
)
"""Every generated corruption by name: the modules of ``biasbench.perturb.corruptions`` and the
``biasbench.corruptions`` plug-ins."""


def register_corruption(
    name: str, params: tuple, *, rounding: str = "truncate", imagenet_c: int = 0
) -> Callable[[Apply], Apply]:
    """Register ``fn`` under ``name`` with its five severity parameters, its 8-bit ``rounding`` and its number in
    ImageNet-C (``imagenet_c``, 0 when it is not one of the benchmark's 19)."""
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")

    def wrap(fn: Apply) -> Apply:
        CORRUPTIONS.register(name, Corruption(name, params, fn, rounding, imagenet_c), definition=fn)
        return fn

    return wrap


def get_corruption(name: str) -> Corruption:
    """The corruption ``name``; unknown names get suggestions."""
    return CORRUPTIONS[name]


def imagenet_c_corruptions() -> tuple[str, ...]:
    """ImageNet-C's corruptions in the benchmark's order (its 15 standard, then its 4 extra ones): the generated
    corruption probe's default set, read from the registered corruptions' ``imagenet_c`` numbers."""
    members = sorted((c for c in CORRUPTIONS.values() if c.imagenet_c), key=lambda c: c.imagenet_c)
    return tuple(c.name for c in members)


# --- storage formats ---------------------------------------------------------------------------------


def exact_8bit(x: torch.Tensor) -> torch.Tensor:
    """``x`` (an 8-bit image divided by 255, at any float precision) as float64 ``v / 255``, exactly the
    values ImageNet-C corrupts (``np.array(img) / 255.``)."""
    return torch.round(x.double() * 255) / 255


def to_uint8(x: torch.Tensor, rounding: str = "truncate") -> torch.Tensor:
    """8-bit pixels of ``x`` in [0,1]: ``"truncate"`` is ImageNet-C's ``np.uint8`` of its clipped float
    output (``floor``), ``"round"`` the nearest level (for values that are 8-bit already)."""
    scaled = x.clamp(0, 1) * 255
    return (torch.floor(scaled) if rounding == "truncate" else torch.round(scaled)).to(torch.uint8)


def jpeg_roundtrip(x: torch.Tensor, quality: int, rounding: str = "round") -> torch.Tensor:
    """Encode each image of ``x`` in [0,1] (made 8-bit with ``rounding``) as a PIL JPEG at ``quality`` and
    decode it (CPU, per image)."""
    arrays = to_uint8(x, rounding).permute(0, 2, 3, 1).cpu().numpy()
    out = []
    for a in arrays:
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=int(quality))
        buf.seek(0)
        out.append(np.asarray(Image.open(buf).convert("RGB"), dtype=np.uint8))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(x.device, x.dtype) / 255.0


SAVE_AS: dict[str, Callable[[torch.Tensor, str], torch.Tensor]] = {
    "float": lambda x, rounding: x,
    "uint8": lambda x, rounding: to_uint8(x, rounding).to(x.dtype) / 255.0,
    # the released ImageNet-C files: np.uint8, then JPEG quality 85 (optimize=True only shrinks the file)
    "jpeg85": lambda x, rounding: jpeg_roundtrip(x, 85, rounding),
}
"""How a corrupted image is stored before the model sees it: (image in [0,1], the corruption's rounding) → image."""


def corruption_perturbation(
    name: str, severity: int, seed: int = 0, save_as: str = "float"
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """An engine perturbation ``(x01, indices) -> x01`` applying one corruption at one severity, then storing
    the result as ``save_as``: ``float`` (as computed, at the input's precision), ``uint8`` (computed in
    float64 from the exact 8-bit input, then truncated to 8 bits as ImageNet-C's ``np.uint8``) or ``jpeg85``
    (``uint8``, then a quality-85 JPEG round trip, as the released ImageNet-C files)."""
    corruption = get_corruption(name)
    if save_as not in SAVE_AS:
        raise UnknownNameError("save_as format", save_as, SAVE_AS)
    store = SAVE_AS[save_as]

    def perturb(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        if save_as == "float":
            return corruption(x, severity, indices, seed)
        stored = store(corruption(exact_8bit(x), severity, indices, seed), corruption.rounding)
        return stored.to(x.dtype)

    return perturb
