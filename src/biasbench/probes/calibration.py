"""``calibration``: expected calibration error (15 equal-width bins on the max probability), negative
log-likelihood and Brier score, derived from the per-sample outputs every accuracy-style job stores
(``topk_prob``, ``p_label``, ``sum_p2``), so they never need the model again (DESIGN.md principle 3).

Brier = Σ_c (p_c − y_c)² = Σ_c p_c² − 2·p_label + 1 (multi-class form, in [0, 2]).

Correctness is the label space's own rule, the one its accuracy uses, over the same images. For ReaL
(multi-label): a prediction is correct when the arg-max is in the image's ReaL set S, images with an empty
set are left out, and NLL/Brier treat S as one merged class: NLL = −log P(S) with P(S) = Σ_{c∈S} p_c, and
Brier = (1 − P(S))² + Σ_{c∉S} p_c² (the label space stores P(S) as ``p_label`` and the merged Σ q² as
``sum_p2``). So ECE compares confidence with ReaL accuracy, and a model that spreads its probability over
several ReaL labels is not penalised for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from pydantic import PositiveInt

from biasbench.data.datasets import Sample
from biasbench.data.labels.spaces import LabelSpace
from biasbench.engine.inference import CLEAN
from biasbench.probes.accuracy import space_accuracy_records
from biasbench.probes.base import DemoRun, Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.probes.outputs import evaluate_labelled, outputs_frame, record_condition
from biasbench.store.metrics import Metric
from biasbench.store.records import Record

SINGLE_LABEL = LabelSpace("single-label")  # correct = top-1 equals the label
NLL_FLOOR = 1e-12  # keeps a zero label probability from giving an infinite NLL


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, n_bins: int = 15) -> float:
    """ECE: Σ_b |B_b|/N · |acc(B_b) − conf(B_b)| over ``n_bins`` equal-width confidence bins (right-closed,
    as in Guo et al. 2017; confidence 0 falls into the first bin)."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if not len(confidence):
        return math.nan
    bins = np.clip(np.ceil(confidence * n_bins).astype(np.int64) - 1, 0, n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            total += m.mean() * abs(correct[m].mean() - confidence[m].mean())
    return float(total)


def negative_log_likelihood(p_label: np.ndarray) -> float:
    """Mean −log p(label)."""
    p = np.asarray(p_label, dtype=np.float64)
    return float(-np.log(np.clip(p, NLL_FLOOR, 1.0)).mean()) if len(p) else math.nan


def brier_score(p_label: np.ndarray, sum_p2: np.ndarray) -> float:
    """Mean multi-class Brier score from the label probability and the squared-probability sum."""
    p, s = np.asarray(p_label, dtype=np.float64), np.asarray(sum_p2, dtype=np.float64)
    return float((s - 2.0 * p + 1.0).mean()) if len(p) else math.nan


def calibration_records(
    confidence: np.ndarray,
    correct: np.ndarray,
    p_label: np.ndarray,
    sum_p2: np.ndarray,
    *,
    n_bins: int = 15,
    condition: str = "",
) -> list[Record]:
    """ece, nll and brier for one set of per-sample outputs."""
    n = len(confidence)
    return [
        Record("ece", expected_calibration_error(confidence, correct, n_bins), n, condition),
        Record("nll", negative_log_likelihood(p_label), n, condition),
        Record("brier", brier_score(p_label, sum_p2), n, condition),
    ]


def space_calibration_records(
    space: LabelSpace,
    outputs: Mapping[str, np.ndarray],
    samples: Sequence[Sample],
    *,
    n_bins: int = 15,
    condition: str = "",
) -> list[Record]:
    """ece, nll and brier with the label space's notion of correctness (its top-1 ``hits``) over the images
    its accuracy scores (ReaL: non-empty sets only), from engine outputs ``topk``, ``topk_prob``,
    ``p_label`` and ``sum_p2`` in the order of ``samples``."""
    keep = space.scored(samples)
    kept = [s for s, k in zip(samples, keep, strict=True) if k]
    topk = np.asarray(outputs["topk"]).astype(np.int64)[keep]
    return calibration_records(
        np.asarray(outputs["topk_prob"])[keep][:, 0],
        space.hits(topk, kept, 1),
        np.asarray(outputs["p_label"])[keep],
        np.asarray(outputs["sum_p2"])[keep],
        n_bins=n_bins,
        condition=condition,
    )


def calibration_from_outputs(
    frame: pd.DataFrame, *, n_bins: int = 15, space: LabelSpace | None = None, samples: Sequence[Sample] = ()
) -> list[Record]:
    """Calibration records per condition from a stored per-sample table (columns ``condition``, ``index``,
    ``label``, ``topk``, ``topk_prob``, ``p_label``, ``sum_p2``). Without ``space``, correctness = top-1
    equals the label (single-label spaces); with the job's ``space`` and its dataset's ``samples`` (indexed
    by the table's ``index``), the space's rule as in ``space_calibration_records`` (needed for ReaL)."""
    records = []
    for condition, group in frame.groupby("condition", sort=False):
        cond = record_condition(str(condition))
        outputs = {
            "topk": np.stack(group["topk"].to_numpy()),
            "topk_prob": np.stack(group["topk_prob"].to_numpy()).astype(np.float64),
            "p_label": group["p_label"].to_numpy(),
            "sum_p2": group["sum_p2"].to_numpy(),
        }
        if space is None:
            rows = [Sample(path=None, label=int(y)) for y in group["label"]]  # type: ignore[arg-type]
        else:
            rows = [samples[i] for i in group["index"]]
        rule = space or SINGLE_LABEL
        records += space_calibration_records(rule, outputs, rows, n_bins=n_bins, condition=cond)
    return records


class CalibrationParams(ProbeParams):
    n_bins: PositiveInt = 15


@register_probe
class Calibration(Probe):
    name = "calibration"
    summary = "ECE (15 equal-width bins on max probability), NLL and Brier in the dataset's label space"
    citation = "Guo et al., ICML 2017 (ECE); Brier 1950; robustness_metrics (Djolonga et al., CVPR 2021)"
    Params = CalibrationParams
    default_datasets = ("imagenet-sample",)
    version = 2  # v2: ReaL correctness (arg-max in the set, empty sets excluded), NLL/Brier of the merged set
    metrics = (
        Metric("calibration", "top1", "Top-1 accuracy", "fraction", "more images right"),
        Metric(
            "calibration",
            "ece",
            "Expected calibration error",
            "fraction",
            "worse calibrated",
            condition=None,
            headline=True,
        ),
        Metric(
            "calibration", "nll", "Negative log-likelihood", "nats", "less probability on the label", condition=None
        ),
        Metric("calibration", "brier", "Brier score", "squared probability", "worse probabilities", condition=None),
    )
    demo = (DemoRun(("imagenet-sample",)),)

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        run = evaluate_labelled(ctx, desc=f"{ctx.model.name} calibration")
        result, space, samples = run.result, run.space, run.samples
        out = result.outputs[CLEAN]
        records = space_calibration_records(space, out, samples, n_bins=self.params.n_bins)
        records += space_accuracy_records(space, out["topk"].astype(np.int64), samples)[:1]
        return ProbeOutput(records, outputs_frame(ctx.dataset, result), {"label_space": space.name})
