"""``calibration``: expected calibration error (15 equal-width bins on the max probability), negative
log-likelihood and Brier score, derived from the per-sample outputs every accuracy-style job stores
(``topk_prob``, ``p_label``, ``sum_p2``), so they never need the model again (DESIGN.md principle 3).

Brier = Σ_c (p_c − y_c)² = Σ_c p_c² − 2·p_label + 1 (multi-class form, in [0, 2]).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from biasbench.engine.inference import CLEAN
from biasbench.probes.accuracy import space_accuracy_records
from biasbench.probes.base import Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.probes.outputs import evaluate_labelled, outputs_frame
from biasbench.store.records import Record

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


def calibration_from_outputs(frame: pd.DataFrame, *, n_bins: int = 15) -> list[Record]:
    """Calibration records per condition from a stored per-sample table (columns ``condition``, ``label``,
    ``topk``, ``topk_prob``, ``p_label``, ``sum_p2``), correctness = top-1 equals the label."""
    records = []
    for condition, group in frame.groupby("condition", sort=False):
        top1 = np.array([row[0] for row in group["topk"]])
        conf = np.array([row[0] for row in group["topk_prob"]], dtype=np.float64)
        correct = top1 == group["label"].to_numpy()
        cond = "" if condition == CLEAN else str(condition)
        records += calibration_records(
            conf, correct, group["p_label"].to_numpy(), group["sum_p2"].to_numpy(), n_bins=n_bins, condition=cond
        )
    return records


class CalibrationParams(ProbeParams):
    n_bins: int = 15


@register_probe
class Calibration(Probe):
    name = "calibration"
    summary = "ECE (15 equal-width bins on max probability), NLL and Brier in the dataset's label space"
    citation = "Guo et al., ICML 2017 (ECE); Brier 1950; robustness_metrics (Djolonga et al., CVPR 2021)"
    Params = CalibrationParams
    default_datasets = ("imagenet-sample",)

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        run = evaluate_labelled(ctx, desc=f"{ctx.model.name} calibration")
        result, space, samples = run.result, run.space, run.samples
        out = result.outputs[CLEAN]
        topk = out["topk"].astype(np.int64)
        correct = space.hits(topk, samples, 1)
        records = calibration_records(
            out["topk_prob"][:, 0], correct, out["p_label"], out["sum_p2"], n_bins=self.params.n_bins
        )
        records += space_accuracy_records(space, topk, samples)[:1]
        return ProbeOutput(records, outputs_frame(ctx.dataset, result), {"label_space": space.name})
