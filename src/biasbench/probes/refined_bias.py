"""``refined-bias``: REFINED-BIAS's ranking-based cue sensitivity (Kim et al., "On the Reliability of Cue
Conflict and Beyond", 2026), as the authors' ``eval_refined_bias.py`` / ``utils.mrr_acc`` compute it: the
mean over images of 1 / rank of the image's class in the model's full 1000-class ranking (a class of several
ImageNet classes ranks at its best-ranked member; ``biasbench.data.labels.ranks``).

On ``refined-bias-shape`` the MRR is Shape-Sens (RB_S), on ``refined-bias-texture`` Texture-Sens (RB_T); the
relative shape preference RB_S / (RB_S + RB_T) combines the two jobs
(``biasbench.analysis.ranking_bias``). The shape-bias probe reports the same metric on the cue-conflict
stimuli (``cue_mrr_records``).
"""

from __future__ import annotations

import numpy as np
from pydantic import NonNegativeInt

from biasbench.core.errors import DatasetError
from biasbench.core.stats import bootstrap_ci, clopper_pearson
from biasbench.data.catalogue.refined_bias_stimuli import RefinedBiasSet
from biasbench.data.labels.ranks import group_rank_outputs, mean_reciprocal_rank, member_table, relative_preference
from biasbench.engine.inference import CLEAN
from biasbench.probes.base import Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.probes.outputs import evaluate_labelled, outputs_frame
from biasbench.store.conditions import ClassGroup
from biasbench.store.metrics import Metric
from biasbench.store.records import Record


def mrr_record(metric: str, ranks: np.ndarray, *, seed: int = 0, reps: int = 2000, condition: str = "") -> Record:
    """Mean reciprocal rank of ``ranks`` with a seeded percentile-bootstrap 95% CI over images."""
    reciprocal = 1.0 / np.asarray(ranks, dtype=float)
    low, high = bootstrap_ci(lambda idx: float(reciprocal[idx].mean()), len(reciprocal), seed=seed, reps=reps)
    return Record(metric, mean_reciprocal_rank(ranks), len(reciprocal), condition, low, high)


def cue_mrr_records(rank_shape: np.ndarray, rank_texture: np.ndarray, *, seed: int = 0, reps: int = 2000) -> list:
    """``shape_mrr`` and ``texture_mrr`` (REFINED-BIAS's Shape-Sens / Texture-Sens) of images that carry both
    cues, and ``shape_bias_mrr`` = shape_mrr / (shape_mrr + texture_mrr) with a paired bootstrap CI."""
    inv_s, inv_t = 1.0 / np.asarray(rank_shape, dtype=float), 1.0 / np.asarray(rank_texture, dtype=float)
    n = len(inv_s)

    def preference(idx: np.ndarray) -> float:
        return relative_preference(float(inv_s[idx].mean()), float(inv_t[idx].mean()))

    low, high = bootstrap_ci(preference, n, seed=seed, reps=reps)
    value = relative_preference(mean_reciprocal_rank(rank_shape), mean_reciprocal_rank(rank_texture)) if n else np.nan
    return [
        mrr_record("shape_mrr", rank_shape, seed=seed, reps=reps),
        mrr_record("texture_mrr", rank_texture, seed=seed, reps=reps),
        Record("shape_bias_mrr", value, n, "", low, high),
    ]


class RefinedBiasParams(ProbeParams):
    bootstrap_reps: NonNegativeInt = 2000  # percentile-bootstrap resamples of the 95% CIs; 0: no CI (NaN)


@register_probe
class RefinedBias(Probe):
    name = "refined-bias"
    summary = "mean reciprocal rank of the image's class over all 1000 classes (REFINED-BIAS Shape/Texture-Sens)"
    citation = "Kim et al., 'On the Reliability of Cue Conflict and Beyond' (REFINED-BIAS), arXiv 2603.10834"
    Params = RefinedBiasParams
    default_datasets = ("refined-bias-shape", "refined-bias-texture")
    metrics = (
        Metric(
            "refined-bias",
            "mrr",
            "Mean reciprocal rank of the cue",
            "fraction",
            "the cue ranked higher",
            condition=None,
            section="shape-bias",
        ),
        Metric("refined-bias", "top1", "Top-1 in the cue's classes", "fraction", "more images right"),
    )

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        spec = ctx.dataset.spec
        if not isinstance(spec, RefinedBiasSet):
            raise DatasetError(
                f"probe refined-bias ranks a REFINED-BIAS class group; {ctx.dataset.name!r} has none. "
                "Use --dataset refined-bias-shape or refined-bias-texture (the shape-bias probe gives the "
                "ranking metric on cue-conflict)."
            )
        labels = np.array([s.label for s in ctx.dataset.samples], dtype=np.int64)
        ranks = group_rank_outputs(member_table(spec.group_members()), {"rank": labels})
        run = evaluate_labelled(ctx, desc=f"{ctx.model.name} refined-bias", extra=ranks)
        rank = run.result.outputs[CLEAN]["rank"].astype(np.int64)
        label = np.array([s.label for s in run.samples], dtype=np.int64)
        reps, seed = self.params.bootstrap_reps, ctx.seed
        top1 = int((rank == 1).sum())
        records = [
            mrr_record("mrr", rank, seed=seed, reps=reps),
            Record("top1", top1 / len(rank) if len(rank) else np.nan, len(rank), "", *clopper_pearson(top1, len(rank))),
        ]
        for g, name in enumerate(spec.class_names()):
            if (label == g).any():
                records.append(
                    mrr_record("mrr", rank[label == g], seed=seed, reps=reps, condition=str(ClassGroup(name)))
                )
        notes = {"skipped": run.result.skipped, "cue": spec.cue}
        return ProbeOutput(records, outputs_frame(ctx.dataset, run.result), notes)
