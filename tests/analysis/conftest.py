"""Shared fixtures: the real data root (skip when absent) and synthetic records."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from biasbench.store.records import RECORD_COLUMNS


@pytest.fixture
def released(data_root):
    """Folder finder for released data sets under the data root; skips the test when they are absent."""

    def find(name: str, *files: str) -> Path:
        folder = data_root / name
        missing = [f for f in files if not (folder / f).is_file()]
        if missing:
            pytest.skip(f"released data {folder} lacks {missing}; set BIASBENCH_DATA to the shared data root")
        return folder

    return find


def make_records(rows: list[tuple]) -> pd.DataFrame:
    """Records from (model, probe, dataset, metric, condition, value) tuples."""
    frame = pd.DataFrame(rows, columns=["model", "probe", "dataset", "metric", "condition", "value"])
    frame["n"], frame["ci_low"], frame["ci_high"], frame["job"], frame["caveat"] = 0, np.nan, np.nan, "test", ""
    return frame[list(RECORD_COLUMNS)]


CUTS = (0.1, 0.2, 0.3, 0.4, 0.5)


def synthetic_records(n_models: int = 5, seed: int = 0) -> pd.DataFrame:
    """Complete records (all score members, shape bias, spectral curves) for ``n_models`` models."""
    from biasbench.analysis.specs import SCORES

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n_models):
        model = f"m{i}"
        quality = 0.5 + 0.08 * i
        for score in SCORES:
            for m in score.members:
                rows.append((model, m.probe, m.dataset, m.metric, m.condition, quality * rng.uniform(0.6, 1.0)))
        rows.append((model, "shape-bias", "cue-conflict", "shape_bias", "", 0.2 + 0.1 * i))
        for c in (0.01, 0.1, 0.2, 0.30000000000000004, 0.4, 0.5, 0.6, 0.99):
            rows.append((model, "spectral", "imagenet-val", "ratio_to_clean", f"lowpass/{c}", min(1, c + 0.1 * i)))
            rows.append((model, "spectral", "imagenet-val", "ratio_to_clean", f"highpass/{c}", c * 0.1))
        # the probe's own biases: mean ratio over the default bias cut-offs 0.1-0.5
        rows.append(
            (model, "spectral", "imagenet-val", "low_freq_bias", "", np.mean([min(1, c + 0.1 * i) for c in CUTS]))
        )
        rows.append((model, "spectral", "imagenet-val", "high_freq_bias", "", np.mean([c * 0.1 for c in CUTS])))
        for band in range(7):
            rows.append((model, "critical-band", "imagenet-val", "threshold", f"band/{band}", (band + i) % 5))
    return make_records(rows)
