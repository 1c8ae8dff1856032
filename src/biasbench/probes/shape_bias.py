"""``shape-bias``: Geirhos et al.'s cue-conflict shape bias with model-vs-human's 1000 → 16 mapping
(METHODS.md §2). Decisions are the cue-conflict label space's (``categories16``) top-1: the arg-max of the
mean softmax probability over each category's members.

Beside it, REFINED-BIAS's ranking-based metric on the same conflict images (``shape_mrr``, ``texture_mrr``,
``shape_bias_mrr``; ``biasbench.probes.refined_bias``): each category ranks at its best-ranked member class
in the full 1000-class ranking, the per-sample ranks are stored as ``rank_shape`` / ``rank_texture``."""

from __future__ import annotations

import numpy as np
from pydantic import NonNegativeInt

from biasbench.core.stats import bootstrap_ci, clopper_pearson
from biasbench.data.labels.categories16 import CATEGORIES16, CATEGORY_MEMBERS
from biasbench.data.labels.decisions import Decisions
from biasbench.data.labels.ranks import group_rank_outputs, member_table
from biasbench.engine.inference import CLEAN
from biasbench.probes.base import DemoRun, Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.probes.outputs import evaluate_labelled, outputs_frame
from biasbench.probes.refined_bias import cue_mrr_records
from biasbench.store.metrics import Metric
from biasbench.store.records import Record


def shape_texture_counts(decisions: np.ndarray, shape: np.ndarray, texture: np.ndarray) -> tuple[int, int]:
    """(n_shape, n_texture) among cue-conflict images (shape ≠ texture); other decisions are ignored."""
    conflict = shape != texture
    return int((decisions[conflict] == shape[conflict]).sum()), int((decisions[conflict] == texture[conflict]).sum())


def shape_bias(n_shape: int, n_texture: int) -> float:
    """n_shape / (n_shape + n_texture); NaN when no decision matched either cue."""
    total = n_shape + n_texture
    return n_shape / total if total else float("nan")


def shape_bias_records(
    decisions: np.ndarray, shape: np.ndarray, texture: np.ndarray, *, seed: int = 0, reps: int = 2000
) -> list[Record]:
    """shape_bias (bootstrap 95% CI over conflict images), shape/texture fractions over all images
    (model-vs-human divides by all 1,280), 16-class top-1 w.r.t. the shape label (``top1``), and the counts."""
    n_all = len(decisions)
    n_shape, n_texture = shape_texture_counts(decisions, shape, texture)
    conflict = np.flatnonzero(shape != texture)
    d, s, t = decisions[conflict], shape[conflict], texture[conflict]

    def resampled(idx: np.ndarray) -> float:
        return shape_bias(int((d[idx] == s[idx]).sum()), int((d[idx] == t[idx]).sum()))

    low, high = bootstrap_ci(resampled, len(conflict), seed=seed, reps=reps)
    correct = int((decisions == shape).sum())
    acc_low, acc_high = clopper_pearson(correct, n_all)
    return [
        Record("shape_bias", shape_bias(n_shape, n_texture), n_shape + n_texture, "", low, high),
        Record("shape_fraction", n_shape / n_all if n_all else float("nan"), n_all),
        Record("texture_fraction", n_texture / n_all if n_all else float("nan"), n_all),
        Record("top1", correct / n_all if n_all else float("nan"), n_all, "", acc_low, acc_high),
        Record("n_shape", n_shape, len(conflict)),
        Record("n_texture", n_texture, len(conflict)),
    ]


class ShapeBiasParams(ProbeParams):
    bootstrap_reps: NonNegativeInt = 2000  # percentile-bootstrap resamples of the 95% CIs; 0: no CI (NaN)


def decisions_output(decisions: Decisions, *, seed: int = 0, reps: int = 2000) -> ProbeOutput:
    """The probe's records and per-sample table from decisions made elsewhere (a vision-language model's
    answers, a released per-image table): the same ``shape_bias_records``, and the samples as the probe stores
    them (condition ``clean``), with ``decision`` -1 where the answer named no category."""
    records = shape_bias_records(decisions.decision, decisions.shape, decisions.texture, seed=seed, reps=reps)
    frame = decisions.frame.copy()
    frame.insert(3, "condition", CLEAN)
    return ProbeOutput(records, frame, {"no_decision": decisions.n_no_decision})


SHAPE_BIAS = Metric(
    "shape-bias",
    "shape_bias",
    "Shape bias",
    "fraction",
    "more shape than texture decisions",
    role="bias",
    noun="shape bias",
    draw="bars",
    section="shape-bias",
    headline=True,
)


@register_probe
class ShapeBias(Probe):
    name = "shape-bias"
    summary = (
        "cue-conflict shape bias n_shape/(n_shape+n_texture), 16-class mean-probability decisions; "
        "REFINED-BIAS shape/texture MRR over all 1000 classes"
    )
    citation = (
        "Geirhos et al., ICLR 2019; model-vs-human (Geirhos et al., NeurIPS 2021); ranks: REFINED-BIAS (Kim et al., "
        "arXiv 2603.10834)"
    )
    Params = ShapeBiasParams
    fixed_datasets = ("cue-conflict",)
    # v2: the 16-class top-1 against the shape label is top1 (was accuracy16); v3: + the ranking-based metric
    version = 3
    metrics = (
        SHAPE_BIAS,
        Metric("shape-bias", "shape_fraction", "Shape decisions", "fraction", "more shape decisions"),
        Metric("shape-bias", "texture_fraction", "Texture decisions", "fraction", "more texture decisions"),
        Metric("shape-bias", "top1", "Top-1 (shape label)", "fraction", "more images right"),
        Metric("shape-bias", "n_shape", "Shape decisions", "images", "more shape decisions"),
        Metric("shape-bias", "n_texture", "Texture decisions", "images", "more texture decisions"),
        Metric("shape-bias", "shape_mrr", "Shape MRR", "fraction", "the shape ranked higher", when="ranks stored"),
        Metric(
            "shape-bias", "texture_mrr", "Texture MRR", "fraction", "the texture ranked higher", when="ranks stored"
        ),
        Metric(
            "shape-bias",
            "shape_bias_mrr",
            "Ranking-based shape bias",
            "fraction",
            "the shape ranked above the texture",
            when="ranks stored",
        ),
    )
    demo = (DemoRun(),)
    report_order = 10

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        # ranks of the shape and the texture category over all 1000 classes, per image (REFINED-BIAS); a
        # zero-shot head over the 16 names has no 1000-class ranking, so it gets no ranking-based metric
        ranked = ctx.model.head == "imagenet"
        cues = {
            "rank_shape": np.array([s.label for s in ctx.dataset.samples]),
            "rank_texture": np.array([s.meta["texture"] for s in ctx.dataset.samples]),
        }
        ranks = group_rank_outputs(member_table([CATEGORY_MEMBERS[c] for c in CATEGORIES16]), cues) if ranked else None
        # all 16 categories ranked: the first is the decision (the categories16 label space's top-1)
        run = evaluate_labelled(ctx, desc=f"{ctx.model.name} shape-bias", k=len(CATEGORIES16), extra=ranks)
        result, samples = run.result, run.samples
        shape = np.array([s.label for s in samples], dtype=np.int64)
        texture = np.array([s.meta["texture"] for s in samples], dtype=np.int64)
        decisions = result.outputs[CLEAN]["topk"][:, 0].astype(np.int64)
        records = shape_bias_records(decisions, shape, texture, seed=ctx.seed, reps=self.params.bootstrap_reps)
        if ranked:
            conflict = shape != texture
            rank_s, rank_t = (result.outputs[CLEAN][k][conflict] for k in ("rank_shape", "rank_texture"))
            records += cue_mrr_records(rank_s, rank_t, seed=ctx.seed, reps=self.params.bootstrap_reps)
        frame = outputs_frame(ctx.dataset, result, texture=texture, decision=decisions)
        return ProbeOutput(records, frame, {"skipped": result.skipped})
