"""ImageNet-C's blur corruptions: Gaussian, defocus, glass, motion and zoom blur."""

from __future__ import annotations

import numpy as np
import torch

from biasbench.perturb.corruptions.draws import Draws
from biasbench.perturb.corruptions.filters import (
    centre_trim,
    clipped_zoom,
    disk_kernel,
    filter2d,
    gaussian_filter,
    motion_blur,
)
from biasbench.perturb.corruptions.registry import register_corruption


@register_corruption("gaussian_blur", (1, 2, 3, 4, 6), imagenet_c=17)
def gaussian_blur(x: torch.Tensor, c: float, draws: Draws) -> torch.Tensor:
    """``skimage.filters.gaussian(sigma=c)`` (boundary ``nearest``, truncated at 4σ)."""
    return gaussian_filter(x, c, "nearest")


@register_corruption("defocus_blur", ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)), imagenet_c=4)
def defocus_blur(x: torch.Tensor, c: tuple[float, float], draws: Draws) -> torch.Tensor:
    """Correlation with ImageNet-C's aliased disk of radius c[0] (``cv2.filter2D``)."""
    return filter2d(x, disk_kernel(*c))


def shuffle_order(h: int, w: int, delta: int) -> np.ndarray:
    """Flat positions (row-major) visited by ImageNet-C's glass-blur loop: rows h−δ … δ+1, then columns
    w−δ … δ+1, both descending."""
    rows = np.arange(h - delta, delta, -1)
    cols = np.arange(w - delta, delta, -1)
    return (rows[:, None] * w + cols[None, :]).reshape(-1)


def glass_shuffle(h: int, w: int, delta: int, offsets: np.ndarray) -> np.ndarray:
    """The source pixel of every position after ImageNet-C's "local shuffle", for a batch of images.

    ``offsets`` (..., iterations, positions, 2) holds the (dx, dy) drawn per visited position; the result is
    (..., h·w) flat source indices. The original's ``x[h, w], x[h', w'] = x[h', w'], x[h, w]`` on NumPy views
    is not a swap: the second assignment copies back the already overwritten pixel, so each step is
    ``x[h, w] = x[h', w']``, a sequential loop. It is resolved here without the loop: a step reads the value
    an earlier step of the same pass wrote (if its source was visited before) or the pass's input, so each
    pass is a forest of read chains whose roots pointer doubling finds in O(log length) vectorised rounds.
    """
    order = shuffle_order(h, w, delta)
    steps = len(order)
    rank = np.full(h * w, steps, dtype=np.int64)  # visiting step of every position (steps = never visited)
    rank[order] = np.arange(steps)
    lead = offsets.shape[:-3]
    source = np.broadcast_to(np.arange(h * w), (*lead, h * w)).copy()
    step = np.arange(steps)
    for offset in np.moveaxis(offsets, -3, 0):
        offset = offset.astype(np.int64)
        reads = order + offset[..., 1] * w + offset[..., 0]  # (..., steps) flat positions read
        earlier = rank[reads]
        parent = np.where(earlier < step, earlier, step)  # a step whose read was written earlier in this pass
        while True:
            grand = np.take_along_axis(parent, parent, -1)
            if np.array_equal(grand, parent):
                break
            parent = grand
        roots = np.take_along_axis(reads, parent, -1)  # the input position each chain finally reads
        np.put_along_axis(source, np.broadcast_to(order, roots.shape), np.take_along_axis(source, roots, -1), -1)
    return source


@register_corruption("glass_blur", ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)), imagenet_c=5)
def glass_blur(x: torch.Tensor, c: tuple[float, int, int], draws: Draws) -> torch.Tensor:
    """Gaussian blur (σ = c[0]), truncation to 8 bits, c[2] passes of local pixel copying within ±c[1] px
    (on the CPU, vectorised over the batch; see :func:`glass_shuffle`), Gaussian blur again."""
    sigma, delta, iterations = c
    n, _, h, w = x.shape
    x8 = torch.round(x.detach().cpu().double() * 255) / 255  # ImageNet-C corrupts 8-bit images
    q = torch.floor(gaussian_filter(x8, sigma, "nearest") * 255).clamp(0, 255) / 255
    positions = len(shuffle_order(h, w, delta))
    offsets = draws.integers(-delta, delta, (iterations, positions, 2), "offsets", torch.int8).numpy()
    sources = torch.from_numpy(glass_shuffle(h, w, delta, offsets))
    shuffled = torch.gather(q.reshape(n, 3, h * w), 2, sources[:, None, :].expand(n, 3, h * w)).reshape(q.shape)
    return gaussian_filter(shuffled, sigma, "nearest").to(x.device, x.dtype)


@register_corruption("motion_blur", ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15)), rounding="round", imagenet_c=6)
def motion_blur_corruption(x: torch.Tensor, c: tuple[int, float], draws: Draws) -> torch.Tensor:
    """Motion blur (radius c[0], σ c[1]) along a direction uniform in [−45°, 45°) per image. ImageNet-C used
    ImageMagick's ``-motion-blur``, which returns 8-bit pixels (hence ``rounding="round"`` when stored); this is
    ``imagecorruptions``' NumPy re-implementation of it."""
    angles = draws.uniform((), "angle", -45.0, 45.0).tolist()
    return motion_blur(x, c[0], c[1], angles)


ZOOMS = ((1, 1.11, 0.01), (1, 1.16, 0.01), (1, 1.21, 0.02), (1, 1.26, 0.02), (1, 1.31, 0.03))


@register_corruption("zoom_blur", ZOOMS, imagenet_c=7)
def zoom_blur(x: torch.Tensor, c: tuple[float, float, float], draws: Draws) -> torch.Tensor:
    """Mean of the image and its centre zooms by the factors ``np.arange(*c)``."""
    factors = np.arange(*c)
    h, w = x.shape[-2:]
    out = x.clone()
    for factor in factors.tolist():
        out += centre_trim(clipped_zoom(x, factor), h, w)
    return out / (len(factors) + 1)
