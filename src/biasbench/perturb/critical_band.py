"""Critical-band masking stimuli ("Solomon filter", METHODS.md §4.1), batched on the device.

Per image: ITU-R 601 grayscale → contrast 0.2 around 0.449 → add Gaussian noise reconstructed from one
Laplacian-pyramid level (band f ↔ level L = 6 − f), rescaled to the RMS of the reconstruction from pyramid
level 0 alone, as the reference code does (≈ 0.943 σ for white noise at 224 px; ``noise_rms="sigma"``
rescales to the full reconstruction, i.e. σ) → out-of-range repair → three identical channels. Every random
draw comes from ``seeded_randn`` keyed by (seed, image index, σ, f) — and, for repair redraws, the round —
so stimuli do not depend on batch size or device.

Grayscale: the studies convert the 8-bit RGB image with PIL ``convert("L")``, which rounds the luma to an
integer (``(19595·R + 38470·G + 7471·B + 2¹⁵) >> 16``). With ``quantize=True`` (default) we reproduce that
bit for bit from the [0,1] image (whose values are uint8/255); ``quantize=False`` keeps the exact float
0.299R + 0.587G + 0.114B.

The grid of noise levels and bands, and the threshold and channel math, are ``biasbench.core.channel_fit``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch

from biasbench.core.reductions import row_sum
from biasbench.core.rng import seeded_randn
from biasbench.perturb.pyramid import band_limit, band_limit_and_finest, pyramid_height

CONTRAST = 0.2
MEAN_LUMINANCE = 0.449
EPSILON = 0.1
MAX_REPAIR_ROUNDS = 1000
NoiseRms = Literal["level0", "sigma"]
NOISE_RMS: tuple[str, ...] = ("level0", "sigma")


def grayscale(x: torch.Tensor, quantize: bool = True) -> torch.Tensor:
    """ITU-R 601-2 luma of a batch (N, 3, H, W) in [0,1] → (N, 1, H, W) in [0,1].

    ``quantize`` reproduces PIL's 8-bit ``convert("L")`` exactly (inputs must be multiples of 1/255, as the
    engine's decoded images are); otherwise the float luma is returned.
    """
    if not quantize:
        weights = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
        return (x * weights).sum(1, keepdim=True)
    # PIL: (19595 R + 38470 G + 7471 B + 2^15) >> 16. Every partial sum is an integer below 2^24, so
    # float32 holds it exactly and the shift is an exact division by 2^16 followed by floor.
    rgb = torch.round(x.float() * 255.0)
    luma = rgb[:, 0:1] * 19595.0 + rgb[:, 1:2] * 38470.0 + rgb[:, 2:3] * 7471.0 + 32768.0
    return torch.floor(luma / 65536.0).to(x.dtype) / 255.0  # the level is exact; divide in x's dtype


def image_mean(t: torch.Tensor) -> torch.Tensor:
    """Mean over each image's pixels, (N, C, H, W) → (N, C, 1, 1), bit-identical at any batch size
    (``row_sum``)."""
    return (row_sum(t.flatten(-2)) / (t.shape[-2] * t.shape[-1]))[..., None, None]


def reduce_contrast(gray: torch.Tensor, contrast: float = CONTRAST, mean: float = MEAN_LUMINANCE) -> torch.Tensor:
    """(g − mean(g))·contrast + mean, with each image's own mean."""
    return (gray - image_mean(gray)) * contrast + mean


def _rms(t: torch.Tensor) -> torch.Tensor:
    return image_mean(t.square()).sqrt()


def band_noise(white: torch.Tensor, band: int, noise_rms: NoiseRms = "level0") -> torch.Tensor:
    """Noise ``white`` (N, 1, H, W) reconstructed from the pyramid level of ``band`` (L = height − 1 − f),
    rescaled per image to the RMS of a reference reconstruction: ``"level0"`` (the reference code's
    ``recon_pyr(levels=0)``, the finest band alone; ≈ 0.943·σ for white noise at 224 px) or ``"sigma"``
    (the full reconstruction, which the Laplacian pyramid makes equal to ``white``, so RMS ≈ σ)."""
    if noise_rms not in NOISE_RMS:
        raise ValueError(f"noise_rms must be one of {NOISE_RMS}, got {noise_rms!r}")
    height = pyramid_height(min(white.shape[-2:]))
    level = height - 1 - band
    if not 0 <= level < height:
        raise ValueError(f"band {band} needs a pyramid of at least {band + 1} levels; this image has {height}")
    if noise_rms == "sigma":
        limited = band_limit(white, level)
        return limited * (_rms(white) / _rms(limited))
    limited, finest = band_limit_and_finest(white, level)
    return limited * (_rms(finest) / _rms(limited))


def repair(
    gray: torch.Tensor,
    noise: torch.Tensor,
    redraw: Callable[[int, torch.Tensor], torch.Tensor],
    epsilon: float = EPSILON,
    max_rounds: int = MAX_REPAIR_ROUNDS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Vectorised out-of-range repair of ``gray + noise`` with the original per-pixel semantics.

    Where y = g + n < 0 the image pixel becomes ε − n (so y = ε); where y > 1 it becomes 1 − ε − n. If that
    replacement is itself outside [0,1] the image pixel is kept and the pixel's noise is redrawn from
    N(0, σ²) until g + n ∈ [0,1]. ``redraw(round, rows)`` returns fresh N(0, σ²) fields for the batch rows
    ``rows`` (seeded per sample and per round). Returns the repaired (gray, noise).
    """
    y = gray + noise
    low, high = y < 0, y > 1
    target = torch.where(low, epsilon - noise, (1.0 - epsilon) - noise)
    fixable = (low | high) & (target >= 0) & (target <= 1)
    gray = torch.where(fixable, target, gray)
    pending = (low | high) & ~fixable
    for round_ in range(max_rounds):
        if not pending.any():
            return gray, noise
        rows = pending.flatten(1).any(1).nonzero().squeeze(1)
        fresh = redraw(round_, rows)
        sub = pending[rows]
        noise[rows] = torch.where(sub, fresh, noise[rows])
        y = gray[rows] + noise[rows]
        pending[rows] = sub & ((y < 0) | (y > 1))
    raise RuntimeError(f"noise repair did not converge in {max_rounds} rounds")


class CriticalBandStimuli:
    """Critical-band perturbations for the engine that share the grayscale, contrast-reduced image of a
    batch across conditions (the engine calls every condition on the same batch tensor in turn)."""

    def __init__(self, seed: int = 0, quantize: bool = True, noise_rms: NoiseRms = "level0"):
        self.seed, self.quantize, self.noise_rms = seed, quantize, noise_rms
        self._source: torch.Tensor | None = None
        self._base: torch.Tensor | None = None

    def base(self, x: torch.Tensor) -> torch.Tensor:
        """Contrast-reduced grayscale (N, 1, H, W) of the batch ``x``, computed once per batch."""
        if self._source is not x:  # identity, not equality: the engine passes the same tensor per batch
            self._source, self._base = x, reduce_contrast(grayscale(x, self.quantize))
        return self._base

    def apply(self, x: torch.Tensor, indices: torch.Tensor, sigma: float, band: int) -> torch.Tensor:
        """Stimuli (N, 3, H, W) for condition (σ, band); σ = 0 is the noise-free image (band-independent)."""
        return add_band_noise(self.base(x), indices, sigma, band, self.seed, self.noise_rms)

    def perturbation(self, sigma: float, band: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """An engine perturbation ``(x, indices) -> x`` for one condition."""
        return lambda x, indices: self.apply(x, indices, sigma, band)


def white_noise(
    gray: torch.Tensor, indices: torch.Tensor, sigma: float, band: int, seed: int = 0, round_: int | None = None
) -> torch.Tensor:
    """The N(0, σ²) field drawn for each image of ``gray`` (N, 1, H, W) under condition (σ, band), on its
    device and in its dtype: the initial field, or with ``round_`` the field of that repair round."""
    condition = ("cbm", sigma, band) if round_ is None else ("cbm-redraw", sigma, band, round_)
    shape = tuple(gray.shape[1:])
    return sigma * seeded_randn(shape, seed, indices, *condition, device=gray.device, dtype=gray.dtype)


def add_band_noise(
    gray: torch.Tensor, indices: torch.Tensor, sigma: float, band: int, seed: int = 0, noise_rms: NoiseRms = "level0"
) -> torch.Tensor:
    """Add seeded band-limited noise (``band_noise`` scaling ``noise_rms``) to contrast-reduced images
    (N, 1, H, W), repair the out-of-range pixels and stack to three channels."""
    if sigma > 0:
        noise = band_noise(white_noise(gray, indices, sigma, band, seed), band, noise_rms)

        def redraw(round_: int, rows: torch.Tensor) -> torch.Tensor:
            return white_noise(gray[rows], indices[rows], sigma, band, seed, round_)

        gray, noise = repair(gray, noise, redraw)
        gray = gray + noise
    return gray.expand(-1, 3, -1, -1).contiguous()


def make_stimuli(
    x: torch.Tensor,
    indices: torch.Tensor,
    sigma: float,
    band: int,
    *,
    seed: int = 0,
    quantize: bool = True,
    noise_rms: NoiseRms = "level0",
) -> torch.Tensor:
    """Critical-band stimuli for a batch (N, 3, H, W) in [0,1] under noise SD ``sigma`` in ``band``."""
    return add_band_noise(reduce_contrast(grayscale(x, quantize)), indices, sigma, band, seed, noise_rms)
