"""The critical-band channel (METHODS.md §4.4–4.5): the 5×7 grid of noise levels and octave bands, the threshold
rule, the reference a relative criterion is measured against, and the Gaussian channel fit.

The one owner of this math: the critical-band probe (``biasbench.probes.critical_band``, which also holds its
bisection search), the noise-sensitivity plot and ``biasbench critical-band-fit`` (which reads saved grids with
``biasbench.analysis.accuracy_grids``) all call these functions. It sits in ``core`` because all three reach it
and it needs nothing above NumPy and SciPy.

The accuracy grid is 5×7 in percent: rows σ = 0, .02, .04, .08, .16, columns bands f = 0…6.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from enum import StrEnum

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from biasbench.core.errors import BiasbenchError

NOISE_SDS: tuple[float, ...] = (0.0, 0.02, 0.04, 0.08, 0.16)
BANDS: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
BANDWIDTH_FACTOR = 2.0 * math.sqrt(math.log(4.0))  # FWHM of a Gaussian in units of s
HUMAN_THRESHOLDS: tuple[int, ...] = (0, 0, 0, 0, 2, 2, 0)
"""Thresholds of Subramanian et al.'s human group-average matrix (BW 1.00 oct, CF 39.60 c/img, PNS 1.00)."""


class Reference(StrEnum):
    """What a threshold criterion θ is a percentage of: nothing (``absolute``: θ % accuracy), the noise-free
    accuracy (Gavrikov & Keuper's normalised variant), or the clean colour accuracy."""

    absolute = "absolute"
    noise_free = "noise-free"
    clean = "clean"


class GridError(BiasbenchError):
    """An accuracy grid of the wrong shape, or a reference that cannot be computed."""


def band_frequency(band: float) -> float:
    """Centre of band ``f`` in cycles per image (1.75·2^f: 1.75 … 112 c/img at 224 px)."""
    return 1.75 * 2.0**band


def check_grid(grid: np.ndarray, source: object = "accuracy grid") -> np.ndarray:
    """``grid`` as a float 5×7 array; another shape is an error naming ``source`` (a file, or the grid)."""
    grid = np.asarray(grid, dtype=float)
    if grid.shape != (len(NOISE_SDS), len(BANDS)):
        raise GridError(
            f"{source}: expected a 5x7 matrix of accuracies in percent (rows σ = 0, .02, .04, .08, .16; "
            f"columns bands 0..6), got shape {grid.shape}"
        )
    return grid


def passes(accuracy: float, criterion: float, reference: float | None) -> bool:
    """Whether an accuracy (percent) exceeds the criterion: θ % absolute, or θ % of ``reference`` (%)."""
    bar = criterion if reference is None else criterion * reference / 100.0
    return bool(accuracy > bar)


def find_thresholds(accuracy: np.ndarray, criterion: float = 50.0, reference: float | None = None) -> np.ndarray:
    """Integer threshold index per band from a 5×7 accuracy grid (percent).

    Walking the noise levels from the strongest (j = 0 ↔ σ = .16) to none (j = 4 ↔ σ = 0), t_f is the first
    j whose accuracy exceeds the criterion; 4 when none does. ``reference`` (percent) makes the criterion
    relative (θ % of the reference accuracy), as Gavrikov & Keuper's normalised variant.
    """
    grid = check_grid(accuracy)
    levels = len(NOISE_SDS)
    out = np.full(grid.shape[1], levels - 1, dtype=np.int64)
    for f in range(grid.shape[1]):
        for j in range(levels):
            if passes(grid[levels - 1 - j, f], criterion, reference):
                out[f] = j
                break
    return out


def reference_accuracy(
    accuracy: np.ndarray, reference: str, clean: float | None = None, noise_free: float | None = None
) -> float | None:
    """The reference accuracy (percent) of a criterion: None (absolute), the noise-free accuracy (given, or
    the mean of the σ = 0 row), or the clean colour accuracy ``clean`` (which must be given)."""
    try:
        reference = Reference(reference)
    except ValueError:
        raise GridError(f"unknown reference {reference!r}; use one of {', '.join(Reference)}") from None
    if reference is Reference.absolute:
        return None
    if reference is Reference.clean:
        if clean is None:
            raise GridError("reference 'clean' needs the clean accuracy (percent)")
        return float(clean)
    return float(noise_free if noise_free is not None else np.nanmean(check_grid(accuracy)[0]))


# A fitted centre more than half a band beyond the measured bands is not a peak the data show (e.g. noise-level
# thresholds of a model near chance give μ ≈ −50 and BW in the thousands). The released CVPR 2024 fits reach
# μ = 6.03 (CF 114.5 c/img), inside this margin.
CENTRE_MARGIN = 0.5


def gaussian(x: np.ndarray, a: float, mu: float, s: float) -> np.ndarray:
    """The channel model A·exp(−(x−μ)²/(2s²)), x in octave steps (bands)."""
    return a * np.exp(-((x - mu) ** 2) / (2 * s**2))


@dataclass(frozen=True)
class ChannelFit:
    """Gaussian channel fit of a threshold vector; NaN parameters when ``degenerate`` (with the reason)."""

    thresholds: tuple[int, ...]
    amplitude: float
    mu: float
    sigma: float
    bandwidth: float  # octaves, 2·√ln4·|s|
    center_frequency: float  # cycles/image, 1.75·2^μ
    peak_noise_sensitivity: float  # 2^(A−4)
    degenerate: bool
    reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def fit_channel(thresholds: np.ndarray | list[int]) -> ChannelFit:
    """Bounded least-squares Gaussian fit (p0 (1, 0, 1), A ∈ [0, 4]) to (f, t_f) and the channel parameters.

    Flat threshold vectors have no peak (the fit runs off to an enormous width, e.g. BW 11295 for all 4s);
    they, non-converging fits and fits centred outside the measured bands (``CENTRE_MARGIN``) are flagged
    ``degenerate`` and reported as NaN instead of those numbers.
    """
    t = np.asarray(thresholds, dtype=float)
    key = tuple(int(v) for v in t)
    nan = float("nan")
    if np.all(t == t[0]):
        return ChannelFit(key, nan, nan, nan, nan, nan, nan, True, "flat threshold vector (no peak to fit)")
    x = np.arange(len(t), dtype=float)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", OptimizeWarning)
            (a, mu, s), _ = curve_fit(
                gaussian, x, t, p0=(1.0, 0.0, 1.0), bounds=([0.0, -np.inf, -np.inf], [4.0, np.inf, np.inf])
            )
    except (RuntimeError, ValueError, OptimizeWarning) as e:
        return ChannelFit(key, nan, nan, nan, nan, nan, nan, True, f"fit did not converge: {e}")
    if not all(np.isfinite((a, mu, s))):
        return ChannelFit(key, nan, nan, nan, nan, nan, nan, True, "fit returned non-finite parameters")
    if not -CENTRE_MARGIN <= mu <= len(t) - 1 + CENTRE_MARGIN:
        reason = f"centre {mu:.3g} lies outside the measured bands 0-{len(t) - 1} (an extrapolated peak)"
        return ChannelFit(key, nan, nan, nan, nan, nan, nan, True, reason)
    return ChannelFit(
        key,
        float(a),
        float(mu),
        float(s),
        BANDWIDTH_FACTOR * abs(float(s)),
        band_frequency(float(mu)),
        2.0 ** (float(a) - 4.0),
        False,
    )


def channel_parameters(bandwidth: float, center_frequency: float, peak_noise_sensitivity: float) -> tuple[float, ...]:
    """The Gaussian (A, μ, s) behind published channel parameters: the inverse of ``fit_channel``'s
    BW = 2·√ln4·s, CF = 1.75·2^μ, PNS = 2^(A−4) (s taken positive)."""
    return (
        4.0 + math.log2(peak_noise_sensitivity),
        math.log2(center_frequency / band_frequency(0)),
        bandwidth / BANDWIDTH_FACTOR,
    )
