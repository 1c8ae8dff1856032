"""Filtering helpers shared by the corruptions: Gaussian filters with SciPy's boundary modes, ImageNet-C's
aliased disk, the motion-blur line kernel of ``imagecorruptions`` and ImageNet-C's clipped zoom."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F


def boundary_index(positions: torch.Tensor, n: int, mode: str) -> torch.Tensor:
    """Map (possibly out-of-range) positions onto 0..n-1 with SciPy's ndimage boundary ``mode``:
    ``nearest`` (a a | a b c), ``reflect`` (b a | a b c; half-sample symmetric) or ``mirror``
    (c b | a b c; whole-sample symmetric, OpenCV's BORDER_REFLECT_101)."""
    if mode == "nearest":
        return positions.clamp(0, n - 1)
    if mode == "reflect":
        p = positions % (2 * n)
        return torch.where(p >= n, 2 * n - 1 - p, p)
    if mode == "mirror":
        if n == 1:
            return torch.zeros_like(positions)
        p = positions % (2 * n - 2)
        return torch.where(p >= n, 2 * n - 2 - p, p)
    raise ValueError(f"unknown boundary mode {mode!r}; use nearest, reflect or mirror")


def gaussian_kernel1d(sigma: float, radius: int | None = None, truncate: float = 4.0) -> torch.Tensor:
    """Normalised float64 1-D Gaussian with SciPy's radius ``int(truncate * sigma + 0.5)`` by default."""
    radius = int(truncate * sigma + 0.5) if radius is None else radius
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    g = torch.exp(-(t**2) / (2 * sigma**2))
    return g / g.sum()


def gaussian_kernel(sigma: float, radius: int | None = None) -> torch.Tensor:
    """Normalised float64 2-D Gaussian kernel (outer product of :func:`gaussian_kernel1d`)."""
    g = gaussian_kernel1d(sigma, radius)
    return g[:, None] * g[None, :]


@lru_cache(maxsize=64)
def filter_matrix(n: int, sigma: float, mode: str, truncate: float) -> torch.Tensor:
    """The n×n float64 matrix of a 1-D Gaussian filter along a length-n axis, boundary handling included
    (kernels wider than the image, as elastic_transform's σ = 171 px, are folded back as SciPy does)."""
    if sigma <= 0:
        return torch.eye(n, dtype=torch.float64)
    k = gaussian_kernel1d(sigma, truncate=truncate)
    r = k.shape[0] // 2
    rows = torch.arange(n)[:, None].expand(n, 2 * r + 1)
    cols = boundary_index(rows + torch.arange(-r, r + 1)[None, :], n, mode)
    m = torch.zeros(n, n, dtype=torch.float64)
    return m.index_put_((rows.reshape(-1), cols.reshape(-1)), k.repeat(n), accumulate=True)


def gaussian_filter(x: torch.Tensor, sigma: float, mode: str = "nearest", truncate: float = 4.0) -> torch.Tensor:
    """``skimage.filters.gaussian`` / ``scipy.ndimage.gaussian_filter`` over the last two axes of ``x``."""
    h, w = x.shape[-2:]
    rows = filter_matrix(h, float(sigma), mode, float(truncate)).to(x.device, x.dtype)
    cols = filter_matrix(w, float(sigma), mode, float(truncate)).to(x.device, x.dtype)
    return rows @ x @ cols.T


def filter2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Per-channel 2-D correlation with an odd square kernel and OpenCV's default border (BORDER_REFLECT_101)."""
    k = kernel.to(x.device, x.dtype)
    r = k.shape[-1] // 2
    padded = F.pad(x, (r, r, r, r), mode="reflect")
    return F.conv2d(padded, k.expand(x.shape[1], 1, *k.shape), groups=x.shape[1])


def disk_kernel(radius: float, alias_blur: float) -> torch.Tensor:
    """ImageNet-C's aliased disk: a normalised disk of ``radius`` smoothed by a 3×3 (5×5 above radius 8)
    Gaussian of σ = ``alias_blur`` (``cv2.GaussianBlur``, BORDER_REFLECT_101)."""
    half = 8 if radius <= 8 else int(radius)
    t = torch.arange(-half, half + 1, dtype=torch.float64)
    disk = ((t[:, None] ** 2 + t[None, :] ** 2) <= radius**2).float()  # float32, as the original's np.float32
    disk = disk / disk.sum()
    g = gaussian_kernel(alias_blur, radius=1 if radius <= 8 else 2).float()
    return filter2d(disk[None, None], g)[0, 0].double()


def motion_offsets(radius: int, sigma: float, angle: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Weights and (dy, dx) shifts of ``imagecorruptions``' motion blur (its stand-in for ImageMagick's
    ``-motion-blur``): a one-sided Gaussian of ``2·radius + 1`` taps along the direction ``angle`` (degrees)."""
    width = 2 * radius + 1
    k = np.exp(-(np.arange(width) ** 2) / (2 * sigma**2)) / (np.sqrt(2 * np.pi) * sigma)
    k = k / k.sum()
    point = (width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle)))
    hypot = math.hypot(point[0], point[1])
    shifts = [(-math.ceil(i * point[0] / hypot - 0.5), -math.ceil(i * point[1] / hypot - 0.5)) for i in range(width)]
    return k, shifts


def motion_blur(x: torch.Tensor, radius: int, sigma: float, angles: list[float]) -> torch.Tensor:
    """Blur image i of ``x`` (N,C,H,W) along ``angles[i]``: a weighted sum of edge-replicated shifts."""
    h, w = x.shape[-2:]
    pad = 2 * radius + 1
    padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    out = torch.zeros_like(x)
    for n, angle in enumerate(angles):
        k, shifts = motion_offsets(radius, sigma, angle)
        for weight, (dy, dx) in zip(k.tolist(), shifts, strict=True):
            if abs(dy) >= h or abs(dx) >= w:  # the shift left the image (as imagecorruptions stops)
                break
            out[n] += weight * padded[n, :, pad - dy : pad - dy + h, pad - dx : pad - dx + w]
    return out


def clipped_zoom(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Crop the centre 1/``factor`` of ``x`` (…,H,W) and zoom it back up with ``scipy.ndimage.zoom(order=1)``
    (bilinear with aligned corners); the result is ``round(ceil(H/factor)·factor)`` ≥ H high (not trimmed)."""
    h, w = x.shape[-2:]
    ch, cw = math.ceil(h / factor), math.ceil(w / factor)
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = x[..., top : top + ch, left : left + cw]
    lead = crop.shape[:-2]
    flat = crop.reshape(-1, 1, ch, cw)
    size = (int(round(ch * factor)), int(round(cw * factor)))
    return F.interpolate(flat, size=size, mode="bilinear", align_corners=True).reshape(*lead, *size)


def centre_trim(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The centred h×w window of a zoomed image (ImageNet-C's ``clipped_zoom`` trim)."""
    top, left = (x.shape[-2] - h) // 2, (x.shape[-1] - w) // 2
    return x[..., top : top + h, left : left + w]
