"""The torch Laplacian pyramid against pyrtools (test-only reference) and against its defining properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biasbench.perturb.pyramid import band_limit, band_limit_and_finest, expand, pyramid_height, reduce

# The full pyramid and its collapse: the test's reference for ``band_limit`` (the probe needs one level only).


def laplacian_pyramid(x: torch.Tensor, height: int | None = None) -> list[torch.Tensor]:
    """Laplacian pyramid of a batch ``x`` (N, C, H, W): ``height - 1`` band-pass levels (finest first)
    followed by the low-pass residual, as pyrtools' ``pyr_coeffs[(level, 0)]``."""
    height = height or pyramid_height(min(x.shape[-2:]))
    levels, im = [], x
    for _ in range(height - 1):
        nxt = reduce(im)
        levels.append(im - expand(nxt, im.shape[-2:]))
        im = nxt
    levels.append(im)
    return levels


def reconstruct(levels: list[torch.Tensor], keep: set[int] | None = None) -> torch.Tensor:
    """Collapse a pyramid, adding only the levels in ``keep`` (all when None), as pyrtools' ``recon_pyr``."""
    keep = set(range(len(levels))) if keep is None else keep
    out = torch.zeros_like(levels[-1])
    for lev in reversed(range(len(levels))):
        if lev < len(levels) - 1:
            out = expand(out, levels[lev].shape[-2:])
        if lev in keep:
            out = out + levels[lev]
    return out


def test_height_and_level_sizes_for_224():
    levels = laplacian_pyramid(torch.zeros(1, 224, 224))
    assert pyramid_height(224) == 7
    assert [lv.shape[-1] for lv in levels] == [224, 112, 56, 28, 14, 7, 4]


@pytest.mark.parametrize("size", [(224, 224), (37, 50)])
def test_matches_pyrtools(size):
    pt = pytest.importorskip("pyrtools", reason="pyrtools is the test-only reference implementation")
    x = np.random.default_rng(0).standard_normal(size)
    ref = pt.pyramids.LaplacianPyramid(x)  # binom5, reflect1, automatic height
    mine = laplacian_pyramid(torch.from_numpy(x)[None])
    assert len(mine) == ref.num_scales
    for lev in range(ref.num_scales):
        np.testing.assert_allclose(mine[lev][0].numpy(), ref.pyr_coeffs[(lev, 0)], atol=1e-12)
        np.testing.assert_allclose(
            band_limit(torch.from_numpy(x)[None], lev)[0].numpy(), ref.recon_pyr(levels=[lev]), atol=1e-12
        )


def test_band_limit_equals_single_level_reconstruction_and_levels_sum_to_input():
    x = torch.randn(3, 1, 64, 64, dtype=torch.float64)
    levels = laplacian_pyramid(x)
    total = torch.zeros_like(x)
    for lev in range(len(levels)):
        single = band_limit(x, lev)
        torch.testing.assert_close(single, reconstruct(levels, {lev}))
        total += single
    torch.testing.assert_close(total, x)  # the pyramid reconstructs exactly (linear, telescoping)


def test_batched_equals_per_image_and_float32_on_device_dtype():
    x = torch.randn(4, 1, 224, 224)
    batched = band_limit(x, 3)
    assert batched.dtype == torch.float32
    for i in range(4):
        torch.testing.assert_close(batched[i : i + 1], band_limit(x[i : i + 1], 3), atol=1e-6, rtol=1e-5)


def _radial_power(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f = np.abs(np.fft.fftshift(np.fft.fft2(img))) ** 2
    n = img.shape[0]
    k = np.arange(n) - n // 2
    radius = np.hypot(k[:, None], k[None, :])
    return radius.ravel(), f.ravel()


def test_band_energy_lies_in_the_intended_octave():
    """Noise rebuilt from band f (level 6 − f) has its power-weighted median frequency in the octave below
    the band label 1.75·2^f cycles/image (the label is the octave's upper edge), one octave per band."""
    white = torch.randn(4, 1, 224, 224, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    k = np.arange(224) - 112
    radius = np.hypot(k[:, None], k[None, :]).ravel()
    order = np.argsort(radius)
    medians = []
    for band in range(7):
        limited = band_limit(white, 6 - band).numpy()
        power = sum(np.abs(np.fft.fftshift(np.fft.fft2(img[0]))) ** 2 for img in limited).ravel()
        cdf = np.cumsum(power[order]) / power.sum()
        medians.append(radius[order][np.searchsorted(cdf, 0.5)])
        label = 1.75 * 2**band
        assert label / 2.5 <= medians[-1] <= label, (band, medians[-1], label)
    assert medians == sorted(medians)
    for lower, upper in zip(medians[3:5], medians[4:6], strict=True):  # away from DC and Nyquist
        assert 1.8 <= upper / lower <= 2.3


@pytest.mark.parametrize("level", [0, 1, 4, 6])
def test_band_limit_and_finest_is_the_two_band_limits_bit_for_bit(level):
    x = torch.randn(2, 1, 224, 224, generator=torch.Generator().manual_seed(level))
    limited, finest = band_limit_and_finest(x, level)
    assert torch.equal(limited, band_limit(x, level))
    assert torch.equal(finest, band_limit(x, 0))
