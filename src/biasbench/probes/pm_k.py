"""``pm-k``: video robustness (Shankar et al. 2019; Djolonga et al., CVPR 2021 use k = 10). An anchor frame
is correct under pm-k only if the prediction is correct on the anchor **and** on every reviewed neighbour
within ±k frames; an anchor without neighbours counts on itself. pm-0 is the anchor accuracy. Correctness
is multi-label: the top-1 prediction (max-merged video class) must be in the frame's label set."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field

from biasbench.core.errors import BiasbenchError, DatasetError
from biasbench.engine.inference import CLEAN
from biasbench.probes.accuracy import proportion_record
from biasbench.probes.base import Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.probes.outputs import evaluate_labelled, outputs_frame
from biasbench.store.metrics import Metric

RELEASED_K = 10  # the released pm sets hold the reviewed neighbours within ±10 frames


@dataclass
class PmkResult:
    """Per scored anchor: correct on itself (pm-0) and under pm-k; anchors left out for missing frames."""

    anchors: list[str]
    anchor_correct: np.ndarray
    pmk_correct: np.ndarray
    dropped: list[str] = field(default_factory=list)


def pm_k(
    correct: Mapping[str, bool], pmsets: Mapping[str, Sequence[tuple[int | None, str]]], k: int = RELEASED_K
) -> PmkResult:
    """pm-k over the anchors of ``pmsets`` (anchor key → ``(offset, neighbour key)`` pairs) given per-frame
    correctness. Neighbours with ``|offset| > k`` are ignored; an anchor whose anchor or counted neighbour
    frame was not evaluated is dropped (and listed) rather than guessed."""
    if k < 0:
        raise BiasbenchError(f"k must be non-negative, got {k}")
    anchors, own, joint, dropped = [], [], [], []
    for anchor, neighbours in sorted(pmsets.items()):
        counted = []
        for offset, key in neighbours:
            if offset is None:
                if k < RELEASED_K:
                    raise DatasetError(f"anchor {anchor}: neighbour {key} has no frame offset, so pm-{k} is undefined")
                counted.append(key)
            elif abs(offset) <= k:
                counted.append(key)
        if anchor not in correct or any(key not in correct for key in counted):
            dropped.append(anchor)
            continue
        anchors.append(anchor)
        own.append(bool(correct[anchor]))
        joint.append(bool(correct[anchor]) and all(bool(correct[key]) for key in counted))
    return PmkResult(anchors, np.array(own, dtype=bool), np.array(joint, dtype=bool), dropped)


class PmkParams(ProbeParams):
    k: int = Field(RELEASED_K, ge=0, le=RELEASED_K)


@register_probe
class PmK(Probe):
    name = "pm-k"
    summary = "video robustness: anchor accuracy (pm-0) and pm-k, correct on the anchor and every neighbour"
    citation = "Shankar et al., arXiv 1906.02168; Djolonga et al., CVPR 2021"
    Params = PmkParams
    default_datasets = ("imagenet-vid-robust", "ytbb-robust")
    version = 2  # v2: top-1 over every frame is top1 (was frame_top1)
    metrics = (
        Metric("pm-k", "pm0", "Anchor top-1 (pm-0)", "fraction", "more anchors right"),
        Metric(
            "pm-k",
            "pm10",
            "pm-10",
            "fraction",
            "more anchors right on every neighbour",
            when="k=10 (the default; pm{k} for another k)",
        ),
        Metric("pm-k", "top1", "Top-1 over every frame", "fraction", "more frames right"),
    )

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        samples = ctx.dataset.samples
        if not any(s.meta.get("anchor") for s in samples):
            raise DatasetError(f"{ctx.dataset.name} has no anchor frames with pm-k sets; use a video robustness set")
        run = evaluate_labelled(ctx, desc=f"{ctx.model.name} pm-k")
        topk = run.result.outputs[CLEAN]["topk"].astype(np.int64)
        hits = run.space.hits(topk, run.samples, 1)
        correct = {s.meta["key"]: bool(h) for s, h in zip(run.samples, hits, strict=True)}
        pmsets = {s.meta["key"]: s.meta["pmset"] for s in samples if s.meta.get("anchor")}
        result = pm_k(correct, pmsets, self.params.k)
        if not result.anchors:
            raise DatasetError(f"{ctx.dataset.name}: no anchor has all its frames loaded (drop --limit)")
        records = [
            proportion_record("pm0", result.anchor_correct),
            proportion_record(f"pm{self.params.k}", result.pmk_correct),
            proportion_record("top1", hits),
        ]
        notes = {"label_space": run.space.name, "dropped_anchors": len(result.dropped), "skipped": run.result.skipped}
        return ProbeOutput(records, outputs_frame(ctx.dataset, run.result), notes)
