"""``accuracy``: top-1 and top-5 accuracy on a 1000-way ImageNet-labelled dataset."""

from __future__ import annotations

import numpy as np

from biasbench.engine.inference import CLEAN, imagenet_outputs
from biasbench.probes.base import Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.probes.outputs import labels_of, outputs_frame
from biasbench.stats import clopper_pearson
from biasbench.store.records import Record


def topk_correct(topk: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per-sample correctness: the label is among the first ``k`` predicted classes."""
    return (topk[:, :k] == labels[:, None]).any(axis=1)


def accuracy_records(topk: np.ndarray, labels: np.ndarray, condition: str = "") -> list[Record]:
    """top1 and top5 as fractions with exact 95% Clopper–Pearson intervals."""
    n = len(labels)
    records = []
    for k in (1, 5):
        hits = int(topk_correct(topk, labels, k).sum())
        low, high = clopper_pearson(hits, n)
        records.append(Record(f"top{k}", hits / n if n else float("nan"), n, condition, low, high))
    return records


class AccuracyParams(ProbeParams):
    pass


@register_probe
class Accuracy(Probe):
    name = "accuracy"
    summary = "top-1 / top-5 accuracy (fractions, exact 95% CIs) on an ImageNet-labelled dataset"
    Params = AccuracyParams
    default_datasets = ("imagenet-sample",)

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        result = ctx.engine.run(ctx.model, ctx.dataset, imagenet_outputs, desc=f"{ctx.model.name} accuracy")
        out = result.outputs[CLEAN]
        labels = labels_of(ctx.dataset, result.indices)
        return ProbeOutput(
            accuracy_records(out["topk"].astype(np.int64), labels),
            outputs_frame(ctx.dataset, result),
            {"skipped": result.skipped},
        )
