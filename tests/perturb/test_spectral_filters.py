"""Fourier low-/high-pass filters (METHODS.md §3.1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from biasbench.perturb.spectral import CUTOFFS, FourierFilterBank, half_width, shifted_mask

# METHODS §3.1: for c = 0.01 … 0.99 the low-pass keeps these half-widths, the high-pass removes these.
LFC_KEEPS = (1, 11, 22, 33, 44, 56, 67, 78, 89, 100, 110)
HFC_REMOVES = (110, 100, 89, 78, 67, 56, 44, 33, 22, 11, 1)


def _block_halfwidth(mask: np.ndarray) -> int:
    """Half-width r of a centred block occupying shifted offsets -r <= k < r (DC at 112)."""
    rows = np.flatnonzero(mask.any(axis=1))
    return 0 if not len(rows) else 112 - rows[0]


@pytest.mark.parametrize(("cutoff", "keeps", "removes"), list(zip(CUTOFFS, LFC_KEEPS, HFC_REMOVES, strict=True)))
def test_mask_half_widths(cutoff, keeps, removes):
    low = shifted_mask(224, 224, cutoff, "lowpass").numpy()
    high = shifted_mask(224, 224, cutoff, "highpass").numpy()
    assert half_width(cutoff, 224) == keeps
    assert _block_halfwidth(low) == keeps and low.sum() == (2 * keeps) ** 2
    # kept rows/columns are 112-r … 112+r-1 (asymmetric)
    assert low[112 - keeps, 112 - keeps] and low[112 + keeps - 1, 112 + keeps - 1]
    assert not low[112 + keeps, 112] and not low[112, 112 + keeps]
    assert _block_halfwidth(~high) == removes and (~high).sum() == (2 * removes) ** 2


def test_high_pass_099_removes_2x2_around_dc():
    removed = np.argwhere(~shifted_mask(224, 224, 0.99, "highpass").numpy())
    assert sorted(map(tuple, removed)) == [(111, 111), (111, 112), (112, 111), (112, 112)]


@pytest.mark.parametrize("shape", ["square", "radial"])
def test_half_cutoff_filters_partition_the_spectrum(shape):
    low = shifted_mask(224, 224, 0.5, "lowpass", shape)
    high = shifted_mask(224, 224, 0.5, "highpass", shape)
    assert not (low & high).any() and (low | high).all()
    # Without clipping the two filtered images add up to the original.
    x = torch.rand(2, 3, 224, 224, dtype=torch.float64) * 0.2 + 0.4  # stays away from the clip
    bank = FourierFilterBank(shape)
    spectrum = torch.fft.fft2(x)
    parts = [torch.fft.ifft2(spectrum * bank.mask(224, 224, 0.5, k, x.device)).real for k in ("lowpass", "highpass")]
    torch.testing.assert_close(parts[0] + parts[1], x)


def test_filter_matches_numpy_reference_of_the_study():
    """Independent per-channel NumPy version of eval_spectral.py: fftshift, square block, ifft, clip."""
    rng = np.random.default_rng(0)
    x = rng.random((2, 3, 224, 224)).astype(np.float32)
    for c in (0.1, 0.3, 0.99):
        for kind in ("lowpass", "highpass"):
            r = int(np.floor((c if kind == "lowpass" else 1 - c) * 112 + 1e-9))
            expected = np.empty_like(x)
            for n in range(2):
                for ch in range(3):
                    f = np.fft.fftshift(np.fft.fft2(x[n, ch]))
                    block = np.zeros_like(f)
                    block[112 - r : 112 + r, 112 - r : 112 + r] = f[112 - r : 112 + r, 112 - r : 112 + r]
                    kept = block if kind == "lowpass" else f - block
                    expected[n, ch] = np.clip(np.fft.ifft2(np.fft.ifftshift(kept)).real, 0, 1)
            got = FourierFilterBank().apply(torch.from_numpy(x), c, kind).numpy()
            np.testing.assert_allclose(got, expected, atol=2e-5)


def test_bank_shares_one_forward_fft_per_batch(monkeypatch):
    calls = []
    real_fft2 = torch.fft.fft2
    monkeypatch.setattr(torch.fft, "fft2", lambda t: calls.append(1) or real_fft2(t))
    bank = FourierFilterBank()
    x = torch.rand(2, 3, 32, 32)
    for c in CUTOFFS:
        bank.apply(x, c, "lowpass")
        bank.apply(x, c, "highpass")
    assert len(calls) == 1
    bank.apply(x.clone(), 0.5, "lowpass")  # a new batch gets its own spectrum
    assert len(calls) == 2


def test_non_square_images_scale_each_axis():
    mask = shifted_mask(100, 60, 0.5, "lowpass").numpy()
    assert mask.sum(axis=0).max() == 2 * 25 and mask.sum(axis=1).max() == 2 * 15


def test_output_is_clipped_and_cutoff_099_lowpass_is_near_identity():
    k = torch.arange(64.0)
    x = (0.5 + 0.4 * torch.sin(2 * torch.pi * k / 16)[:, None] * torch.cos(2 * torch.pi * k / 32)).expand(1, 3, 64, 64)
    y = FourierFilterBank().apply(x + 0.2, 0.99, "lowpass")  # x + 0.2 exceeds 1 in places: the output is clipped
    assert y.min() >= 0 and y.max() <= 1
    torch.testing.assert_close(y, (x + 0.2).clamp(0, 1), atol=1e-5, rtol=0)
