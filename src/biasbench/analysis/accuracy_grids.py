"""Saved critical-band accuracy grids (``biasbench critical-band-fit FILE``): Subramanian et al.'s per-network
JSON, or a 5×7 percentage matrix as JSON or CSV, read into a grid and analysed with the channel math of
``biasbench.core.channel_fit`` (thresholds, reference accuracy, Gaussian fit).

The accuracy grid is 5×7 in percent: rows σ = 0, .02, .04, .08, .16, columns bands f = 0…6.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from biasbench.core.channel_fit import (
    BANDS,
    NOISE_SDS,
    ChannelFit,
    GridError,
    Reference,
    check_grid,
    find_thresholds,
    fit_channel,
    reference_accuracy,
)

_NETWORK_KEY = re.compile(r"^noise(?P<sd>[0-9.]+)freq(?P<band>\d+)$")


class CriticalBandFileError(GridError):
    """A saved accuracy grid that cannot be read."""


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
    try:
        return check_grid(grid, source)
    except GridError as e:
        raise CriticalBandFileError(str(e)) from None


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
    grid: AccuracyGrid, criterion: float = 50.0, reference: str = Reference.absolute, clean: float | None = None
) -> tuple[np.ndarray, ChannelFit, float | None]:
    """Thresholds, channel fit and the reference accuracy used (None for absolute) of an accuracy grid."""
    ref = reference_accuracy(grid.accuracy, reference, clean=clean, noise_free=grid.noise_free)
    thresholds = find_thresholds(grid.accuracy, criterion, ref)
    return thresholds, fit_channel(thresholds), ref
