"""Turning engine results into the per-sample table a job stores next to its records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from biasbench.data.benchmarks import transform_for
from biasbench.data.datasets import Dataset, Sample
from biasbench.data.images import ImageTransform
from biasbench.data.label_maps import LabelSpace, label_space_for
from biasbench.engine.inference import CLEAN, EngineResult, Perturbation
from biasbench.probes.base import ProbeContext


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


@dataclass
class LabelledResult:
    """An engine result with the dataset's label space and the evaluated samples, in evaluation order."""

    result: EngineResult
    space: LabelSpace
    samples: list[Sample]


def evaluate_labelled(
    ctx: ProbeContext,
    conditions: Mapping[str, Perturbation | None] | None = None,
    desc: str = "",
    transform: ImageTransform | None = None,
) -> LabelledResult:
    """Run ``ctx.model`` over ``ctx.dataset`` under ``conditions`` with the dataset's label space (its
    reducer and its transform: native resolution, border crops, unless ``transform`` overrides it), the step
    every labelled probe shares."""
    space = label_space_for(ctx.dataset)
    result = ctx.engine.run(
        ctx.model,
        ctx.dataset,
        space.reducer(),
        conditions=conditions,
        transform=transform or transform_for(ctx.dataset, ctx.model),
        desc=desc,
    )
    return LabelledResult(result, space, [ctx.dataset.samples[i] for i in result.indices])


def record_condition(condition: str) -> str:
    """The record condition of an engine condition: ``""`` for the unperturbed images (the engine's
    ``clean``), every other name as is (the naming convention in ``biasbench.store.records``)."""
    return "" if condition == CLEAN else condition


def unperturbed_rows(samples: pd.DataFrame) -> pd.DataFrame:
    """The rows of a stored per-sample table (``outputs_frame``) that hold the unperturbed images; a table
    without a ``condition`` column is returned whole."""
    return samples[samples["condition"] == CLEAN] if "condition" in samples else samples
