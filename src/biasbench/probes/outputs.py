"""The step every labelled probe shares — dataset → feed → engine → label space (``evaluate_labelled``) —
and turning engine results into the per-sample table a job stores next to its records."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from biasbench.data.datasets import Dataset, Sample
from biasbench.data.labels.spaces import LabelSpace, label_space_for
from biasbench.data.pixels.feed import Feed
from biasbench.data.pixels.images import ImageTransform
from biasbench.data.pixels.transforms import image_transform
from biasbench.engine.inference import CLEAN, Batch, Engine, EngineResult, Perturbation
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


@dataclass
class LabelledResult:
    """An engine result with the dataset's label space and the evaluated samples, in evaluation order."""

    result: EngineResult
    space: LabelSpace
    samples: list[Sample]


def feed_of(engine: Engine, dataset: Dataset, transform: ImageTransform) -> Feed:
    """``dataset`` streamed to ``engine`` under ``transform``, as its configuration asks (batch size, workers,
    corrupt-file policy, decoded-image cache, progress)."""
    c = engine.config
    return Feed(
        dataset,
        transform,
        batch_size=c.batch_size,
        num_workers=c.num_workers,
        skip_corrupt=c.on_corrupt == "skip",
        cache=c.cache,
        cache_dir=c.cache_dir,
        progress=c.progress,
        pin_memory=engine.device.type == "cuda",
    )


def evaluate_labelled(
    ctx: ProbeContext,
    conditions: Mapping[str, Perturbation | None] | None = None,
    desc: str = "",
    transform: ImageTransform | None = None,
    *,
    dataset: Dataset | None = None,
    space: LabelSpace | None = None,
    k: int = 5,
    extra: Callable[[torch.Tensor, Batch], dict[str, torch.Tensor]] | None = None,
) -> LabelledResult:
    """Run ``ctx.model`` over ``ctx.dataset`` (or ``dataset``, a view of it: a subset, composites, relabelled
    images) under ``conditions`` and score it in the dataset's label space (or ``space``): its reducer, its
    head-size check and the dataset's transform (native resolution, border crops) unless ``transform``
    overrides it; ``k`` predictions are kept per sample, and ``extra(logits, batch)`` adds per-sample outputs
    of the probe's own (e.g. the ranks of ``biasbench.data.labels.ranks``). The step every labelled probe shares. The
    space is the one the model's head gives (``label_space_for``): a zero-shot head over the 16 category names
    scores cue-conflict directly."""
    dataset = dataset if dataset is not None else ctx.dataset
    space = space or label_space_for(dataset, ctx.model.head)
    feed = feed_of(ctx.engine, dataset, transform or image_transform(dataset, ctx.model.preprocess))
    reduce = space.reducer(k, model=ctx.model.name, dataset=dataset.name)
    if extra is not None:
        reduce = _with_extra(reduce, extra)
    result = ctx.engine.run(ctx.model, feed, reduce, conditions=conditions, desc=desc)
    return LabelledResult(result, space, [dataset.samples[i] for i in result.indices])


def _with_extra(reduce: Callable, extra: Callable) -> Callable:
    def both(logits: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        return {**reduce(logits, batch), **extra(logits, batch)}

    return both


def record_condition(condition: str) -> str:
    """The record condition of an engine condition: ``""`` for the unperturbed images (the engine's
    ``clean``), every other name as is (the naming convention in ``biasbench.store.records``)."""
    return "" if condition == CLEAN else condition


def unperturbed_rows(samples: pd.DataFrame) -> pd.DataFrame:
    """The rows of a stored per-sample table (``outputs_frame``) that hold the unperturbed images; a table
    without a ``condition`` column is returned whole."""
    return samples[samples["condition"] == CLEAN] if "condition" in samples else samples
