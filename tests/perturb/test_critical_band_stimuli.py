"""Critical-band stimuli (METHODS.md §4.1): grayscale, contrast, band noise, repair, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from biasbench.perturb.critical_band import (
    band_noise,
    grayscale,
    image_mean,
    make_stimuli,
    reduce_contrast,
    repair,
    white_noise,
)


def _images(n: int, size: int = 224, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.integers(0, 256, (n, 3, size, size), dtype=np.uint8)).float() / 255.0


def test_quantised_grayscale_is_pil_L_bit_for_bit():
    x = _images(2, 64)
    gray = grayscale(x, quantize=True)
    for i in range(2):
        rgb = (x[i] * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        pil = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float32) / 255.0
        np.testing.assert_array_equal(gray[i, 0].numpy(), pil)


def test_float_grayscale_is_itu_601_and_differs_from_8_bit_by_under_half_a_level():
    x = _images(1, 32)
    exact = grayscale(x, quantize=False)
    torch.testing.assert_close(exact, 0.299 * x[:, :1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    assert (exact - grayscale(x, quantize=True)).abs().max() <= 0.5 / 255 + 1e-6


def test_contrast_reduction_mean_and_spread():
    gray = torch.rand(3, 1, 32, 32)
    out = reduce_contrast(gray)
    torch.testing.assert_close(out.mean(dim=(-2, -1)), torch.full((3, 1), 0.449))
    torch.testing.assert_close(out.std(dim=(-2, -1)), 0.2 * gray.std(dim=(-2, -1)))


def _rms(t: torch.Tensor) -> torch.Tensor:
    return t.pow(2).mean(dim=(-2, -1)).sqrt()


@pytest.mark.parametrize("band", [0, 3, 6])
def test_band_noise_rms_is_that_of_the_finest_level_by_default_and_sigma_on_request(band):
    white = 0.08 * torch.randn(2, 1, 224, 224, generator=torch.Generator().manual_seed(band), dtype=torch.float64)
    default = band_noise(white, band)
    torch.testing.assert_close(_rms(default), _rms(band_noise(white, 6)), rtol=1e-12, atol=0)
    ratio = _rms(default) / _rms(white)
    assert ((ratio > 0.935) & (ratio < 0.952)).all(), ratio  # METHODS.md §4.1: ≈ 0.943 at 224 px
    torch.testing.assert_close(_rms(band_noise(white, band, "sigma")), _rms(white), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="noise_rms"):
        band_noise(white, band, "full-band")


def _reference_repair(g, n, redraws, eps=0.1):
    """The original per-pixel loop, with redraws taken in order from ``redraws[pixel]``."""
    g, n = g.copy(), n.copy()
    for idx in np.ndindex(g.shape):
        y = g[idx] + n[idx]
        if 0 <= y <= 1:
            continue
        target = eps - n[idx] if y < 0 else 1 - eps - n[idx]
        if 0 <= target <= 1:
            g[idx] = target
        else:
            draws = iter(redraws[idx])
            while not 0 <= g[idx] + n[idx] <= 1:
                n[idx] = next(draws)
    return g, n


def test_repair_matches_the_per_pixel_rule_and_stays_in_range():
    rng = np.random.default_rng(3)
    g = rng.uniform(0.0, 1.0, (2, 1, 8, 8))
    n = rng.normal(0, 0.8, (2, 1, 8, 8))  # large noise: some pixels need redraws
    rounds = rng.normal(0, 0.3, (50, 2, 1, 8, 8))

    def redraw(round_: int, rows: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(rounds[round_])[rows]

    g_t, n_t = repair(torch.from_numpy(g), torch.from_numpy(n.copy()), redraw)
    per_pixel = {idx: rounds[(slice(None), *idx)] for idx in np.ndindex(g.shape)}
    g_ref, n_ref = _reference_repair(g, n, per_pixel)
    np.testing.assert_allclose(g_t.numpy(), g_ref)
    np.testing.assert_allclose(n_t.numpy(), n_ref)
    y = (g_t + n_t).numpy()
    assert y.min() >= 0 and y.max() <= 1
    redrawn = n_t.numpy() != n
    assert redrawn.any() and (g_t.numpy() != g).any()  # both branches exercised


def test_stimuli_in_range_three_equal_channels_and_rms():
    x = _images(3)
    idx = torch.arange(3)
    for sigma, band in [(0.16, 0), (0.16, 6), (0.04, 3)]:
        y = make_stimuli(x, idx, sigma, band, seed=0)
        assert y.shape == (3, 3, 224, 224) and y.min() >= 0 and y.max() <= 1
        assert torch.equal(y[:, 0], y[:, 1]) and torch.equal(y[:, 1], y[:, 2])
        added = y[:, :1] - reduce_contrast(grayscale(x))
        # Away from repaired pixels the added noise has RMS sigma.
        assert abs(float(added.pow(2).mean().sqrt()) - sigma) < 0.2 * sigma
    clean = make_stimuli(x, idx, 0.0, 0)
    torch.testing.assert_close(clean[:, :1], reduce_contrast(grayscale(x)))


def test_same_seed_same_stimuli_regardless_of_batch_size():
    x = _images(5)
    idx = torch.tensor([10, 11, 12, 13, 14])
    full = make_stimuli(x, idx, 0.16, 2, seed=7)
    parts = torch.cat([make_stimuli(x[:2], idx[:2], 0.16, 2, seed=7), make_stimuli(x[2:], idx[2:], 0.16, 2, seed=7)])
    assert torch.equal(full, parts)
    single = make_stimuli(x[3:4], idx[3:4], 0.16, 2, seed=7)
    assert torch.equal(full[3:4], single)
    assert not torch.equal(full, make_stimuli(x, idx, 0.16, 2, seed=8))
    assert not torch.equal(full, make_stimuli(x, idx, 0.16, 3, seed=7))


# ---------------------------------------------------------------- the reference code, per image, with pyrtools


def _reference_solomon(gray_u8: np.ndarray, noise: np.ndarray, freq: int, redraws, epsilon: float = 0.1):
    """Subramanian et al.'s ``solomon_filter`` (methods.py; same in Gavrikov & Keuper's eval_criticalband.py)
    for one 8-bit grayscale image, re-written step by step with its ``noise`` field given and its per-pixel
    noise redraws taken from ``redraws(i, j)`` (an iterator), returned in float64 before the final cast."""
    pt = pytest.importorskip("pyrtools")
    image = gray_u8 / 255.0
    image = (image - image.mean()) * 0.2 + 0.449
    pyr = pt.pyramids.LaplacianPyramid(noise)
    recon = pyr.recon_pyr(levels=7 - (freq + 1))
    first_recon = pyr.recon_pyr(levels=0)
    rms = lambda a: np.sqrt(np.mean(np.square(a)))  # noqa: E731
    sf_noise = recon * rms(first_recon) / rms(recon)
    noisy = image + sf_noise
    if noisy.min() < 0 or noisy.max() > 1:
        for i in range(noisy.shape[0]):
            for j in range(noisy.shape[1]):
                if not (noisy[i, j] < 0 or noisy[i, j] > 1):
                    continue
                if noisy[i, j] < 0:
                    newp = epsilon - sf_noise[i, j]
                    other = newp > 1
                else:
                    newp = 1 - epsilon - sf_noise[i, j]
                    other = newp < 0
                if other:
                    draws, newn = redraws(i, j), sf_noise[i, j]
                    while newn + image[i, j] < 0 or newn + image[i, j] > 1:
                        newn = next(draws)
                    sf_noise[i, j] = newn
                else:
                    image[i, j] = newp
        noisy = image + sf_noise
        assert noisy.max() <= 1 and noisy.min() >= 0
    return noisy


@pytest.mark.parametrize(("sigma", "band"), [(0.16, 0), (0.08, 6), (0.6, 2)])
def test_stimuli_equal_the_reference_code_on_the_same_noise(sigma, band):
    """Same white noise and the same redraws in, same stimulus out (float64, to rounding). σ = 0.6 forces
    both repair branches. The old scaling (to σ) is 6 % off and fails this test."""
    x = _images(2).double()
    idx = torch.tensor([3, 40])
    ours = make_stimuli(x, idx, sigma, band, seed=5)[:, 0].numpy()
    gray = grayscale(x)  # PIL "L" bit for bit (tested above)
    white = white_noise(gray, idx, sigma, band, seed=5).numpy()
    rounds: list[np.ndarray] = []

    def redraw_field(k: int) -> np.ndarray:
        while len(rounds) <= k:
            rounds.append(white_noise(gray, idx, sigma, band, seed=5, round_=len(rounds)).numpy())
        return rounds[k]

    branches = 0
    for row in range(len(idx)):

        def redraws(i: int, j: int, row: int = row):
            k = 0
            while True:
                yield redraw_field(k)[row, 0, i, j]
                k += 1

        gray_u8 = np.round(gray[row, 0].numpy() * 255).astype(np.uint8)
        reference = _reference_solomon(gray_u8, white[row, 0], band, redraws)
        np.testing.assert_allclose(ours[row], reference, rtol=0, atol=1e-12)
        branches += len(rounds)
    assert (branches > 0) == (sigma == 0.6)  # the redraw branch ran exactly where it should
    old = make_stimuli(x, idx, sigma, band, seed=5, noise_rms="sigma")[:, 0].numpy()
    assert np.abs(old - ours).max() > 1e-3


def test_image_mean_is_bit_identical_across_batch_sizes_and_accurate():
    t = torch.rand(64, 1, 224, 224, generator=torch.Generator().manual_seed(0))
    full = image_mean(t)
    for n in (1, 7):
        assert torch.equal(image_mean(t[:n]), full[:n])
    torch.testing.assert_close(full, t.double().mean(dim=(-2, -1), keepdim=True).float(), rtol=1e-6, atol=0)
