"""Fourier low-/high-pass filters of Gavrikov & Keuper (METHODS.md §3.1), batched with ``torch.fft``.

The ``square`` mask is the study's: in the shifted spectrum (DC at (H//2, W//2)) keep the frequency offsets
−r ≤ k < r on each axis with r = floor(c·H/2) (rows) and floor(c·W/2) (columns); the high-pass at cut-off c
zeroes the block computed with 1 − c. ``radial`` (not in the study) uses the ellipse
(k_y/r_y)² + (k_x/r_x)² < 1 with the same half-widths, so low-pass(c) and high-pass(c) still partition
the spectrum at c = 0.5.
Each RGB channel is filtered independently; the output is the real part clipped to [0,1].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import cache

import torch

CUTOFFS: tuple[float, ...] = (0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99)
"""The study's cut-offs, written as decimals (the original range() produced keys like 0.30000000000000004)."""

FILTERS: tuple[str, ...] = ("lowpass", "highpass")


def half_width(cutoff: float, size: int) -> int:
    """Half-width floor(c·size/2) of the kept (low-pass) block along an axis of ``size`` pixels.

    A tiny tolerance absorbs binary representation error (0.29·224/2 must floor to 32, not 31).
    """
    return int(math.floor(cutoff * size / 2 + 1e-9))


def _block(h: int, w: int, cutoff: float, shape: str) -> torch.Tensor:
    """Boolean (H, W) block around DC in the shifted spectrum: what a low-pass at ``cutoff`` keeps."""
    ry, rx = half_width(cutoff, h), half_width(cutoff, w)
    ky = torch.arange(h) - h // 2
    kx = torch.arange(w) - w // 2
    if shape == "square":
        return ((ky >= -ry) & (ky < ry))[:, None] & ((kx >= -rx) & (kx < rx))[None, :]
    if ry == 0 or rx == 0:
        return torch.zeros(h, w, dtype=torch.bool)
    return (ky[:, None] / ry) ** 2 + (kx[None, :] / rx) ** 2 < 1


MASK_SHAPES: tuple[str, ...] = ("square", "radial")


@cache
def shifted_mask(h: int, w: int, cutoff: float, kind: str, shape: str = "square") -> torch.Tensor:
    """Boolean (H, W) pass mask in the shifted spectrum (DC at (H//2, W//2)) for ``kind`` lowpass/highpass."""
    if kind not in FILTERS:
        raise ValueError(f"filter kind must be one of {FILTERS}, not {kind!r}")
    if shape not in MASK_SHAPES:
        raise ValueError(f"mask shape must be one of {MASK_SHAPES}, not {shape!r}")
    if kind == "lowpass":
        return _block(h, w, cutoff, shape)
    return ~_block(h, w, 1.0 - cutoff, shape)


class FourierFilterBank:
    """Low-/high-pass perturbations for the engine that share one forward FFT per batch.

    The engine calls every condition on the same batch tensor in turn; the bank keeps the spectrum of the
    last batch it saw, so 22 filtered versions cost one ``fft2`` and 22 ``ifft2``.
    """

    def __init__(self, shape: str = "square"):
        if shape not in MASK_SHAPES:
            raise ValueError(f"mask shape must be one of {MASK_SHAPES}, not {shape!r}")
        self.shape = shape
        self._source: torch.Tensor | None = None
        self._spectrum: torch.Tensor | None = None
        self._masks: dict[tuple, torch.Tensor] = {}

    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        if self._source is not x:  # identity, not equality: the engine passes the same tensor per batch
            self._source, self._spectrum = x, torch.fft.fft2(x)
        return self._spectrum

    def mask(self, h: int, w: int, cutoff: float, kind: str, device: torch.device) -> torch.Tensor:
        """The pass mask in unshifted FFT layout, as a float tensor on ``device`` (cached)."""
        key = (h, w, cutoff, kind, device)
        if key not in self._masks:
            m = torch.fft.ifftshift(shifted_mask(h, w, cutoff, kind, self.shape))
            self._masks[key] = m.to(device=device, dtype=torch.float32)
        return self._masks[key]

    def apply(self, x: torch.Tensor, cutoff: float, kind: str) -> torch.Tensor:
        """Filter a batch (N, C, H, W) in [0,1]: mask the spectrum, inverse FFT, real part, clip to [0,1]."""
        h, w = x.shape[-2:]
        out = torch.fft.ifft2(self.spectrum(x) * self.mask(h, w, cutoff, kind, x.device)).real
        return out.clamp_(0.0, 1.0).to(x.dtype)

    def perturbation(self, cutoff: float, kind: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """An engine perturbation ``(x, indices) -> x`` for one (filter, cut-off)."""
        return lambda x, _indices: self.apply(x, cutoff, kind)
