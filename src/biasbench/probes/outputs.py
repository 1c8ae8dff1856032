"""Turning engine results into the per-sample table a job stores next to its records."""

from __future__ import annotations

import numpy as np
import pandas as pd

from biasbench.data.datasets import Dataset
from biasbench.engine.inference import EngineResult


def outputs_frame(dataset: Dataset, result: EngineResult, **extra: np.ndarray) -> pd.DataFrame:
    """Long per-sample table: one row per (sample, condition) with index, file, label, the kept outputs
    (vectors become list columns) and any ``extra`` per-sample columns (aligned with ``result.indices``)."""
    files = np.array([str(s.path.relative_to(dataset.folder)) for s in dataset.samples])
    labels = np.array([s.label for s in dataset.samples])
    frames = []
    for condition, arrays in result.outputs.items():
        columns = {
            "index": result.indices,
            "file": files[result.indices],
            "label": labels[result.indices],
            "condition": condition,
            **extra,
        }
        for key, value in arrays.items():
            columns[key] = list(value) if value.ndim > 1 else value
        frames.append(pd.DataFrame(columns))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def labels_of(dataset: Dataset, indices: np.ndarray) -> np.ndarray:
    return np.array([dataset.samples[i].label for i in indices], dtype=np.int64)
