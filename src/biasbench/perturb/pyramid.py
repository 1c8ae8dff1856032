"""A batched Laplacian pyramid in torch, numerically identical to pyrtools' ``LaplacianPyramid`` with its
defaults (``binom5`` filter √2·[1,4,6,4,1]/16, ``reflect1`` edges, automatic height).

One pyramid step along an axis is *reduce* (correlate with the filter, reflecting about the edge sample,
keep every second sample starting at 0) or *expand* (put the samples at the even positions of a zero
signal of the finer length, then correlate under the same reflection). Both are written as five shifted
slices multiplied and added — elementwise work only, so a batch costs O(pixels) per level on any device
and every image's bits are independent of the batch it came in (DESIGN.md principle 4).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BINOM5: tuple[float, ...] = tuple(2**0.5 * v / 16 for v in (1.0, 4.0, 6.0, 4.0, 1.0))
"""pyrtools' ``binom5``: the binomial filter scaled by √2 (so a 2-D reduce step has DC gain 2)."""


def pyramid_height(size: int, filter_length: int = len(BINOM5)) -> int:
    """Number of pyramid levels pyrtools builds for an image whose smaller side is ``size``: the number
    of halvings while the side is at least the filter length, plus one for the low-pass residual."""
    height = 0
    while size >= filter_length:
        height, size = height + 1, size // 2
    return height + 1


def _correlate(x: torch.Tensor, dim: int, step: int = 1) -> torch.Tensor:
    """Correlate ``x`` (N, C, H, W) with BINOM5 along ``dim`` (-1 or -2) under ``reflect1`` edges, keeping
    every ``step``-th output from 0."""
    half = len(BINOM5) // 2
    n = x.shape[dim]
    padded = F.pad(x, (half, half, 0, 0) if dim == -1 else (0, 0, half, half), mode="reflect")
    taps = [padded.narrow(dim, k, n) for k in range(len(BINOM5))]
    if step > 1:
        taps = [t[..., ::step] if dim == -1 else t[..., ::step, :] for t in taps]
    out = taps[0] * BINOM5[0]
    for tap, h in zip(taps[1:], BINOM5[1:], strict=True):
        out += tap * h  # no alpha=: a fused multiply-add could round differently in SIMD and tail lanes
    return out


def _expand_axis(x: torch.Tensor, dim: int, n: int) -> torch.Tensor:
    """Expand ``x`` along ``dim`` to length ``n``: zeros between samples, then the reflected correlation."""
    shape = list(x.shape)
    shape[dim] = n
    z = x.new_zeros(shape)
    if dim == -1:
        z[..., ::2] = x
    else:
        z[..., ::2, :] = x
    return _correlate(z, dim)


def reduce(x: torch.Tensor) -> torch.Tensor:
    """One reduce step of a batch (N, C, H, W): rows first, then columns, as pyrtools ``corrDn``."""
    return _correlate(_correlate(x, -1, 2), -2, 2)


def expand(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """One expand step of a batch (N, C, h, w) back to ``size`` (H, W), as pyrtools ``upConv``."""
    return _expand_axis(_expand_axis(x, -2, size[0]), -1, size[1])


def band_limit(x: torch.Tensor, level: int) -> torch.Tensor:
    """Reconstruction of a batch ``x`` (N, C, H, W) from pyramid level ``level`` only — the same as building
    the full Laplacian pyramid and collapsing that level alone (pyrtools' ``recon_pyr(levels=[level])``),
    without building or expanding the other levels."""
    height = pyramid_height(min(x.shape[-2:]))
    if not 0 <= level < height:
        raise ValueError(f"pyramid level {level} out of range for a {tuple(x.shape[-2:])} image (height {height})")
    sizes, g = [], x
    for _ in range(level):
        sizes.append(g.shape[-2:])
        g = reduce(g)
    if level < height - 1:  # band-pass level: G_L − expand(reduce(G_L)); the residual is G_L itself
        g = g - expand(reduce(g), g.shape[-2:])
    for size in reversed(sizes):
        g = expand(g, size)
    return g


def band_limit_and_finest(x: torch.Tensor, level: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(band_limit(x, level), band_limit(x, 0))`` sharing the first reduce step (bit-identical to the two
    separate calls)."""
    if level == 0:
        finest = band_limit(x, 0)
        return finest, finest
    coarse = reduce(x)
    finest = x - expand(coarse, x.shape[-2:])
    return expand(band_limit(coarse, level - 1), x.shape[-2:]), finest
