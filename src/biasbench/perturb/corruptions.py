"""On-the-fly common corruptions in torch (a subset of Hendrycks & Dietterich's ImageNet-C), batched on the
device, with ImageNet-C's severity parameters (224-px versions of ``make_imagenet_c.py``).

Every random draw comes from a per-sample generator seeded by (seed, dataset index, corruption, severity),
drawn on the CPU and moved, so results do not depend on batch size or device. These are re-implementations:
they are *not* pixel-identical to the released ImageNet-C JPEGs (which were also JPEG-saved at quality 85),
so results are recorded as ``generated``, never mixed with ``ondisk`` ones (ANCHORS.md §3 pitfall 9).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from biasbench.engine.rng import sample_generator
from biasbench.errors import UnknownNameError

Apply = Callable[[torch.Tensor, float, torch.Tensor, int], torch.Tensor]
"""(images in [0,1] (N,3,H,W), severity parameter, dataset indices (N,), seed) → corrupted images."""


@dataclass(frozen=True)
class Corruption:
    """A named corruption with its five severity parameters."""

    name: str
    params: tuple
    apply: Apply

    def __call__(self, x: torch.Tensor, severity: int, indices: torch.Tensor, seed: int = 0) -> torch.Tensor:
        if not 1 <= severity <= len(self.params):
            raise ValueError(f"severity must be 1..{len(self.params)}, got {severity}")
        return self.apply(x, self.params[severity - 1], indices, seed).clamp_(0.0, 1.0)


CORRUPTIONS: dict[str, Corruption] = {}


def register_corruption(name: str, params: tuple) -> Callable[[Apply], Apply]:
    def wrap(fn: Apply) -> Apply:
        CORRUPTIONS[name] = Corruption(name, params, fn)
        return fn

    return wrap


def get_corruption(name: str) -> Corruption:
    if name not in CORRUPTIONS:
        raise UnknownNameError("corruption", name, CORRUPTIONS)
    return CORRUPTIONS[name]


def _draw(
    x: torch.Tensor, indices: torch.Tensor, seed: int, tag: str, sampler: Callable[[torch.Generator], torch.Tensor]
) -> torch.Tensor:
    """Stack one CPU draw per sample (seeded per index and ``tag``) and move it to ``x``'s device."""
    draws = [sampler(sample_generator(seed, int(i), "corruption", tag)) for i in indices.tolist()]
    return torch.stack(draws).to(x.device, x.dtype)


# --- noise --------------------------------------------------------------------------------------------


@register_corruption("gaussian_noise", (0.08, 0.12, 0.18, 0.26, 0.38))
def gaussian_noise(x, c, indices, seed):
    shape = tuple(x.shape[1:])
    return x + c * _draw(x, indices, seed, "gaussian_noise", lambda g: torch.randn(shape, generator=g))


@register_corruption("shot_noise", (60, 25, 12, 5, 3))
def shot_noise(x, c, indices, seed):
    rates = (x.detach().cpu().float() * c).clamp_min(0)
    draws = [
        torch.poisson(r, generator=sample_generator(seed, int(i), "corruption", "shot_noise"))
        for r, i in zip(rates, indices.tolist(), strict=True)
    ]
    return torch.stack(draws).to(x.device, x.dtype) / c


@register_corruption("impulse_noise", (0.03, 0.06, 0.09, 0.17, 0.27))
def impulse_noise(x, c, indices, seed):
    # skimage random_noise(mode="s&p", amount=c): a fraction c of the values, half salt, half pepper
    shape = tuple(x.shape[1:])
    u = _draw(x, indices, seed, "impulse_noise", lambda g: torch.rand((2, *shape), generator=g))
    hit, salt = u[:, 0] < c, u[:, 1] < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


@register_corruption("speckle_noise", (0.15, 0.2, 0.35, 0.45, 0.6))
def speckle_noise(x, c, indices, seed):
    shape = tuple(x.shape[1:])
    return x + x * c * _draw(x, indices, seed, "speckle_noise", lambda g: torch.randn(shape, generator=g))


# --- blur ---------------------------------------------------------------------------------------------


def _filter(x: torch.Tensor, kernel: torch.Tensor, mode: str) -> torch.Tensor:
    """Per-channel 2-D filtering with a square kernel (``reflect`` = OpenCV's default border)."""
    k = kernel.to(x.device, x.dtype)
    r = k.shape[-1] // 2
    padded = F.pad(x, (r, r, r, r), mode=mode)
    return F.conv2d(padded, k.expand(x.shape[1], 1, *k.shape), groups=x.shape[1])


def gaussian_kernel1d(sigma: float, radius: int | None = None) -> torch.Tensor:
    """Normalised 1-D Gaussian (scipy's truncate=4 radius by default)."""
    radius = int(4.0 * sigma + 0.5) if radius is None else radius
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    return (g / g.sum()).float()


def gaussian_kernel(sigma: float, radius: int | None = None) -> torch.Tensor:
    """Normalised 2-D Gaussian kernel."""
    g = gaussian_kernel1d(sigma, radius)
    return g[:, None] * g[None, :]


def _separable_filter(x: torch.Tensor, g: torch.Tensor, mode: str) -> torch.Tensor:
    """Filter with the outer product g gᵀ as two 1-D passes (a 49-tap σ = 6 blur is 25x cheaper)."""
    k = g.to(x.device, x.dtype)
    r, c = k.shape[0] // 2, x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode=mode), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode=mode), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def disk_kernel(radius: float, alias_blur: float) -> torch.Tensor:
    """ImageNet-C's aliased disk: a normalised disk of ``radius`` smoothed by a small Gaussian."""
    half = 8 if radius <= 8 else int(radius)
    t = torch.arange(-half, half + 1, dtype=torch.float64)
    disk = ((t[:, None] ** 2 + t[None, :] ** 2) <= radius**2).double()
    disk = disk / disk.sum()
    g = gaussian_kernel(alias_blur, radius=1 if radius <= 8 else 2).double()
    smoothed = F.conv2d(F.pad(disk[None, None], (g.shape[0] // 2,) * 4, mode="reflect"), g[None, None])[0, 0]
    return smoothed.float()


@register_corruption("gaussian_blur", (1, 2, 3, 4, 6))
def gaussian_blur(x, c, indices, seed):
    return _separable_filter(x, gaussian_kernel1d(c), "replicate")  # skimage.filters.gaussian: mode "nearest"


@register_corruption("defocus_blur", ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)))
def defocus_blur(x, c, indices, seed):
    return _filter(x, disk_kernel(*c), "reflect")


# --- digital / weather-free photometric ---------------------------------------------------------------


@register_corruption("contrast", (0.4, 0.3, 0.2, 0.1, 0.05))
def contrast(x, c, indices, seed):
    means = x.mean(dim=(2, 3), keepdim=True)
    return (x - means) * c + means


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) RGB in [0,1] → HSV with hue in [0,1) (skimage's convention)."""
    r, g, b = x.unbind(1)
    v, _ = x.max(1)
    mn, _ = x.min(1)
    delta = v - mn
    s = torch.where(v > 0, delta / v.clamp_min(1e-12), torch.zeros_like(v))
    d = delta.clamp_min(1e-12)
    h = torch.where(v == r, (g - b) / d, torch.where(v == g, 2.0 + (b - r) / d, 4.0 + (r - g) / d))
    h = torch.where(delta > 0, (h / 6.0) % 1.0, torch.zeros_like(h))
    return torch.stack((h, s, v), 1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hsv`."""
    h, s, v = x.unbind(1)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.long() % 6
    choices = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = torch.zeros_like(x)
    for k, (rr, gg, bb) in enumerate(choices):
        m = (i == k).unsqueeze(1)
        out = torch.where(m, torch.stack((rr, gg, bb), 1), out)
    return out


@register_corruption("brightness", (0.1, 0.2, 0.3, 0.4, 0.5))
def brightness(x, c, indices, seed):
    hsv = rgb_to_hsv(x)
    hsv[:, 2] = (hsv[:, 2] + c).clamp(0, 1)
    return hsv_to_rgb(hsv)


@register_corruption("saturate", ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)))
def saturate(x, c, indices, seed):
    hsv = rgb_to_hsv(x)
    hsv[:, 1] = (hsv[:, 1] * c[0] + c[1]).clamp(0, 1)
    return hsv_to_rgb(hsv)


@register_corruption("pixelate", (0.6, 0.5, 0.4, 0.3, 0.25))
def pixelate(x, c, indices, seed):
    # PIL BOX down to c·size and BOX back up: area averaging, then nearest-neighbour enlargement
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(int(h * c), int(w * c)), mode="area")
    return F.interpolate(small, size=(h, w), mode="nearest")


@register_corruption("jpeg_compression", (25, 18, 15, 10, 7))
def jpeg_compression(x, c, indices, seed):
    # PIL JPEG round trip at quality c (CPU; deterministic)
    arrays = x.detach().clamp(0, 1).mul(255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    out = []
    for a in arrays:
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="JPEG", quality=int(c))
        buf.seek(0)
        out.append(np.asarray(Image.open(buf).convert("RGB"), dtype=np.uint8))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).to(x.device, x.dtype) / 255.0


def corruption_perturbation(
    name: str, severity: int, seed: int = 0
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """An engine perturbation ``(x01, indices) -> x01`` applying one corruption at one severity."""
    corruption = get_corruption(name)

    def perturb(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        return corruption(x, severity, indices, seed)

    return perturb
