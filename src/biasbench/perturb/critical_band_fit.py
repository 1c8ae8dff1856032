"""Critical-band thresholds and the Gaussian channel fit (METHODS.md §4.4–4.5), and reading saved
accuracy grids (Subramanian et al.'s per-network JSON, or a 5×7 percentage matrix as JSON or CSV).
The one owner of the threshold rule and the fit: the critical-band probe, ``biasbench critical-band-fit`` and the
noise-sensitivity plot all call these functions.

The accuracy grid is 5×7 in percent: rows σ = 0, .02, .04, .08, .16, columns bands f = 0…6.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from biasbench.core.errors import BiasbenchError
from biasbench.perturb.critical_band import BANDS, NOISE_SDS, band_frequency

REFERENCES: tuple[str, ...] = ("absolute", "noise-free", "clean")
BANDWIDTH_FACTOR = 2.0 * math.sqrt(math.log(4.0))  # FWHM of a Gaussian in units of s
HUMAN_THRESHOLDS: tuple[int, ...] = (0, 0, 0, 0, 2, 2, 0)
"""Thresholds of Subramanian et al.'s human group-average matrix (BW 1.00 oct, CF 39.60 c/img, PNS 1.00)."""


class CriticalBandFileError(BiasbenchError):
    """A saved accuracy grid that cannot be read."""


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
    grid = _check_grid(accuracy)
    levels = len(NOISE_SDS)
    out = np.full(grid.shape[1], levels - 1, dtype=np.int64)
    for f in range(grid.shape[1]):
        for j in range(levels):
            if passes(grid[levels - 1 - j, f], criterion, reference):
                out[f] = j
                break
    return out


def bisect_thresholds(
    evaluate: Callable[[list[tuple[float, int]]], dict[tuple[float, int], float]],
    criterion: float = 50.0,
    reference: Callable[[], float | None] = lambda: None,
) -> np.ndarray:
    """The thresholds of :func:`find_thresholds` found by bisection over the noise levels of each band.

    ``evaluate(cells)`` measures a list of (σ, band) cells (percent) in one pass; all bands advance together,
    so the search costs at most 3 passes and 2–3 noisy cells per band instead of 4. ``reference()`` is read
    after each pass (the first pass also measures the reference conditions). When accuracy does not rise
    as the noise level falls, t_f is the smallest passing level and this equals the full-grid scan.
    """
    levels = len(NOISE_SDS)
    # Search t in [lo, hi]; index `levels - 1` (σ = 0, or nothing passed) always ends the search.
    lo, hi = np.zeros(len(BANDS), dtype=np.int64), np.full(len(BANDS), levels - 1, dtype=np.int64)
    while np.any(lo < hi):
        mids = {f: int((lo[f] + hi[f]) // 2) for f in BANDS if lo[f] < hi[f]}
        measured = evaluate([(NOISE_SDS[levels - 1 - j], f) for f, j in mids.items()])
        ref = reference()
        for f, j in mids.items():
            if passes(measured[(NOISE_SDS[levels - 1 - j], f)], criterion, ref):
                hi[f] = j
            else:
                lo[f] = j + 1
    return lo


def reference_accuracy(
    accuracy: np.ndarray, reference: str, clean: float | None = None, noise_free: float | None = None
) -> float | None:
    """The reference accuracy (percent) of a criterion: None (absolute), the noise-free accuracy (given, or
    the mean of the σ = 0 row), or the clean colour accuracy ``clean`` (which must be given)."""
    if reference not in REFERENCES:
        raise BiasbenchError(f"unknown reference {reference!r}; use one of {', '.join(REFERENCES)}")
    if reference == "absolute":
        return None
    if reference == "clean":
        if clean is None:
            raise BiasbenchError("reference 'clean' needs the clean accuracy (percent); pass --clean-accuracy")
        return float(clean)
    return float(noise_free if noise_free is not None else np.nanmean(_check_grid(accuracy)[0]))


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


# ---------------------------------------------------------------------------------------------- files

_NETWORK_KEY = re.compile(r"^noise(?P<sd>[0-9.]+)freq(?P<band>\d+)$")


@dataclass(frozen=True)
class AccuracyGrid:
    """A 5×7 accuracy grid (percent) and, when known, the pooled noise-free accuracy and cell counts."""

    accuracy: np.ndarray
    noise_free: float | None = None
    counts: np.ndarray | None = None


def grid_from_cells(cells: dict[tuple[float, int], list[float] | np.ndarray]) -> AccuracyGrid:
    """Grid from per-condition 0/1 correctness lists keyed (σ, band); noise-free pools all σ = 0 cells."""
    acc = np.full((len(NOISE_SDS), len(BANDS)), np.nan)
    counts = np.zeros_like(acc, dtype=np.int64)
    for (sd, band), values in cells.items():
        matches = [i for i, s in enumerate(NOISE_SDS) if math.isclose(s, sd, abs_tol=1e-9)]
        if not matches or band not in BANDS:
            raise CriticalBandFileError(
                f"unexpected condition σ={sd}, band={band}; expected σ in {NOISE_SDS}, band in 0..{BANDS[-1]}"
            )
        v = np.asarray(values, dtype=float)
        acc[matches[0], band] = 100.0 * v.mean() if len(v) else np.nan
        counts[matches[0], band] = len(v)
    free = [np.asarray(cells[k], dtype=float) for k in cells if k[0] == 0]
    pooled = 100.0 * np.concatenate(free).mean() if free and sum(map(len, free)) else None
    return AccuracyGrid(acc, pooled, counts)


def _matrix(values, source: Path) -> np.ndarray:
    try:
        grid = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as e:
        raise CriticalBandFileError(f"{source}: the matrix is not numeric ({e})") from e
    return _check_grid(grid, source)


def _check_grid(grid: np.ndarray, source: Path | str = "accuracy grid") -> np.ndarray:
    grid = np.asarray(grid, dtype=float)
    if grid.shape != (len(NOISE_SDS), len(BANDS)):
        raise CriticalBandFileError(
            f"{source}: expected a 5x7 matrix of accuracies in percent (rows σ = 0, .02, .04, .08, .16; "
            "columns "
            f"bands 0..6), got shape {grid.shape}"
        )
    return grid


def load_accuracy_grid(path: Path | str) -> AccuracyGrid:
    """Read a saved accuracy grid: Subramanian et al.'s per-network JSON (``noise<sd>freq<band>`` → list of
    0/1), a JSON 5×7 matrix (bare, or under ``"accuracy"``), or a CSV 5×7 matrix (header row / label
    column allowed). Matrices are in percent."""
    path = Path(path)
    if not path.is_file():
        raise CriticalBandFileError(f"{path} does not exist; pass a per-network JSON or a 5x7 JSON/CSV matrix")
    if path.suffix.lower() == ".csv":
        import pandas as pd

        frame = pd.read_csv(path, header=None).apply(pd.to_numeric, errors="coerce")
        values = frame.dropna(how="all").dropna(axis=1, how="all").to_numpy()
        if values.shape == (len(NOISE_SDS), len(BANDS) + 1) and np.allclose(values[:, 0], NOISE_SDS):
            values = values[:, 1:]  # a leading σ column
        return AccuracyGrid(_matrix(values, path))
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise CriticalBandFileError(f"{path} is not valid JSON ({e}); CSV files must end in .csv") from e
    if isinstance(data, dict) and data and all(_NETWORK_KEY.match(k) for k in data):
        cells = {}
        for key, values in data.items():
            m = _NETWORK_KEY.match(key)
            cells[(float(m["sd"]), int(m["band"]))] = values
        return grid_from_cells(cells)
    if isinstance(data, dict) and "accuracy" in data:
        data = data["accuracy"]
    if isinstance(data, list):
        return AccuracyGrid(_matrix(data, path))
    raise CriticalBandFileError(
        f"{path}: unrecognised layout; expected keys like 'noise0.02freq3' with lists of 0/1, or a 5x7 matrix"
    )


def analyse_grid(
    grid: AccuracyGrid, criterion: float = 50.0, reference: str = "absolute", clean: float | None = None
) -> tuple[np.ndarray, ChannelFit, float | None]:
    """Thresholds, channel fit and the reference accuracy used (None for absolute) of an accuracy grid."""
    ref = reference_accuracy(grid.accuracy, reference, clean=clean, noise_free=grid.noise_free)
    thresholds = find_thresholds(grid.accuracy, criterion, ref)
    return thresholds, fit_channel(thresholds), ref
