"""Critical-band stimuli (METHODS.md §4.1): grayscale, contrast, band noise, repair, seeding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from biasbench.perturb.critical_band import (
    band_noise,
    grayscale,
    make_stimuli,
    reduce_contrast,
    repair,
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


@pytest.mark.parametrize("band", range(7))
def test_band_noise_rms_matches_full_band_noise(band):
    white = 0.08 * torch.randn(4, 1, 224, 224, generator=torch.Generator().manual_seed(band))
    noise = band_noise(white, band)
    rms = lambda t: t.pow(2).mean(dim=(-2, -1)).sqrt()  # noqa: E731
    torch.testing.assert_close(rms(noise), rms(white), rtol=1e-5, atol=1e-7)


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
