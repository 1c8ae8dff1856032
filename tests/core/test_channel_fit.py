"""Threshold rule, reference accuracy and Gaussian channel fit (METHODS.md §4.4–4.5)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from biasbench.core.channel_fit import (
    CENTRE_MARGIN,
    HUMAN_THRESHOLDS,
    GridError,
    Reference,
    find_thresholds,
    fit_channel,
    reference_accuracy,
)


def _rounded(fit):
    return round(fit.bandwidth, 2), round(fit.center_frequency, 2), round(fit.peak_noise_sensitivity, 2)


def test_human_group_fixture():
    fit = fit_channel(HUMAN_THRESHOLDS)
    assert _rounded(fit) == (1.00, 39.60, 1.00) and not fit.degenerate


def test_resnet50_fixture_vector():
    assert _rounded(fit_channel([0, 0, 2, 2, 3, 4, 2])) == (3.99, 39.42, 0.71)


@pytest.mark.parametrize("flat", [(4,) * 7, (0,) * 7, (2,) * 7])
def test_flat_vectors_are_degenerate_nan_not_huge_numbers(flat):
    fit = fit_channel(flat)
    assert fit.degenerate and "flat" in fit.reason
    assert all(math.isnan(v) for v in (fit.bandwidth, fit.center_frequency, fit.peak_noise_sensitivity))


def test_a_centre_outside_the_measured_bands_is_degenerate():
    # A model near chance (demo: MobileNet-v1 0.25 at 1.6 % noise-free accuracy) gives noise-level thresholds;
    # the unconstrained fit puts its "peak" at μ ≈ −50 with a bandwidth of thousands of octaves.
    fit = fit_channel((3, 3, 2, 2, 3, 4, 2))
    assert fit.degenerate and "outside the measured bands" in fit.reason
    assert math.isnan(fit.bandwidth) and math.isnan(fit.center_frequency)
    # The study's widest centre (CF 114.5 c/img, μ = 6.03) stays inside the half-band margin.
    assert math.log2(114.5 / 1.75) <= 6 + CENTRE_MARGIN
    assert not fit_channel((0, 1, 2, 3, 4, 4, 3)).degenerate  # μ ≈ 4.5


def test_non_convergence_is_flagged(monkeypatch):
    import biasbench.core.channel_fit as module

    def fail(*args, **kwargs):
        raise RuntimeError("Optimal parameters not found")

    monkeypatch.setattr(module, "curve_fit", fail)
    fit = fit_channel([0, 1, 2, 3, 2, 1, 0])
    assert fit.degenerate and "converge" in fit.reason and math.isnan(fit.bandwidth)


def test_threshold_rule_walks_from_strongest_noise():
    grid = np.full((5, 7), 10.0)
    grid[0, :] = 90  # noise-free passes everywhere
    grid[1, 2] = 60  # band 2 passes only at σ = .02 → t = 3
    grid[4, 0] = 55  # band 0 passes even at σ = .16 → t = 0
    grid[2, 5], grid[3, 5] = 70, 20  # band 5: fails at .08, passes at .04 → t = 2
    assert find_thresholds(grid).tolist() == [0, 4, 3, 4, 4, 2, 4]
    assert find_thresholds(np.zeros((5, 7))).tolist() == [4] * 7  # nothing passes → 4
    assert find_thresholds(np.full((5, 7), 50.0)).tolist() == [4] * 7  # strictly greater than θ


def test_relative_criterion_uses_the_reference():
    grid = np.full((5, 7), 30.0)
    grid[0, :] = 40.0
    assert find_thresholds(grid, 50).tolist() == [4] * 7  # absolute: 30 % never passes
    assert find_thresholds(grid, 50, reference=40.0).tolist() == [0] * 7  # 30 > 50 % of 40
    assert reference_accuracy(grid, "noise-free") == 40.0
    assert reference_accuracy(grid, "absolute") is None
    assert reference_accuracy(grid, "clean", clean=76.0) == 76.0
    assert reference_accuracy(grid, Reference.noise_free) == 40.0  # the enum and its value are one choice
    with pytest.raises(GridError, match="needs the clean accuracy"):  # no CLI flag named here: the CLI adds it
        reference_accuracy(grid, "clean")
    with pytest.raises(GridError, match="absolute, noise-free, clean"):
        reference_accuracy(grid, "relative")
