"""``accuracy``: top-1 and top-5 accuracy in the dataset's label space (1000-way, the 200 ImageNet-A/R
classes, 16 categories, ReaL multi-labels, ObjectNet's 113 classes; see ``biasbench.data.labels.spaces``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
from pydantic import PositiveInt

from biasbench.core.stats import clopper_pearson
from biasbench.data.datasets import Sample
from biasbench.data.labels.spaces import LabelSpace
from biasbench.engine.inference import CLEAN
from biasbench.probes.base import DemoRun, Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.probes.outputs import evaluate_labelled, outputs_frame
from biasbench.store.metrics import Metric
from biasbench.store.records import Record


def proportion_record(metric: str, hits: np.ndarray, condition: str = "", denominator: int | None = None) -> Record:
    """A fraction of hits with its exact 95% Clopper–Pearson interval (``denominator`` defaults to len)."""
    n = len(hits) if denominator is None else denominator
    k = int(np.sum(hits))
    low, high = clopper_pearson(k, n)
    return Record(metric, k / n if n else math.nan, n, condition, low, high)


def space_accuracy_records(
    space: LabelSpace, topk: np.ndarray, samples: Sequence[Sample], condition: str = ""
) -> list[Record]:
    """top1/top5 as fractions with exact 95% Clopper–Pearson intervals, judged by the label space's rule
    (``LabelSpace.hits``) over the samples it scores (ReaL skips empty sets)."""
    keep = space.scored(samples)
    kept = [s for s, k in zip(samples, keep, strict=True) if k]
    return [
        proportion_record(f"top{k}", space.hits(topk[keep], kept, k), condition) for k in (1, 5) if k <= topk.shape[1]
    ]


def last_batch_top1(space: LabelSpace, topk: np.ndarray, samples: Sequence[Sample], batch_size: int) -> Record:
    """The CVPR 2024 ReaL value: top-1 over the *last* batch only (batch 512 → the last 336 images, 326 of
    them with ReaL labels; METHODS.md §5.1). Reproduces the paper; not a correct accuracy."""
    start = ((len(samples) - 1) // batch_size) * batch_size if len(samples) else 0
    (record,) = space_accuracy_records(space, topk[start:, :1], samples[start:])
    return record


# Metric of the study's last-batch ReaL value; ``top1`` always holds the accuracy over all scored images.
COMPAT_LAST_BATCH = "top1_compat_last_batch"


class AccuracyParams(ProbeParams):
    compat_last_batch: bool = False  # also report the study's last-batch value as top1_compat_last_batch
    compat_batch_size: PositiveInt = 512


TOP1 = Metric(
    "accuracy",
    "top1",
    "Top-1 accuracy",
    "fraction",
    "more images right",
    role="score",
    noun="top-1 accuracy",
    headline=True,
)


@register_probe
class Accuracy(Probe):
    name = "accuracy"
    summary = "top-1 / top-5 accuracy (fractions, exact 95% CIs) in the dataset's label space"
    citation = "Gavrikov & Keuper, CVPR 2024 (benchmark protocol); label spaces per dataset"
    Params = AccuracyParams
    default_datasets = ("imagenet-sample",)
    version = 3  # v3: the compat value is top1_compat_last_batch; top1 stays the correct accuracy
    metrics = (
        TOP1,
        Metric("accuracy", "top5", "Top-5 accuracy", "fraction", "more images with the label among the top 5"),
        Metric(
            "accuracy",
            COMPAT_LAST_BATCH,
            "Top-1, the study's last batch only",
            "fraction",
            "more images right",
            when="compat_last_batch on a multi-label set (ReaL)",
        ),
    )
    demo = (
        DemoRun(("imagenet-sample",)),
        DemoRun(("edge", "silhouette")),
    )  # edge/silhouette: 16-class decisions vs humans

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        run = evaluate_labelled(ctx, desc=f"{ctx.model.name} accuracy")
        result, space = run.result, run.space
        topk = result.outputs[CLEAN]["topk"].astype(np.int64)
        samples = run.samples
        records = space_accuracy_records(space, topk, samples)
        notes: dict = {"skipped": result.skipped, "label_space": space.name}
        if self.params.compat_last_batch:
            compat = last_batch_top1(space, topk, samples, self.params.compat_batch_size)
            records.append(replace(compat, metric=COMPAT_LAST_BATCH))
            notes["compat_last_batch"] = f"{COMPAT_LAST_BATCH} is the last batch of {self.params.compat_batch_size}"
        return ProbeOutput(records, outputs_frame(ctx.dataset, result), notes)
