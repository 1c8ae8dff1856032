"""``transfer``: few-shot transfer in the VTAB-1k spirit (Djolonga et al., CVPR 2021, §B.2 of
CONTAMINATION_AND_META.md). The frozen model's penultimate features of ``shots`` labelled training examples
feed a linear probe (closed-form ridge, regulariser chosen on a held-out 20% of those examples, then refitted
on all of them); the score is top-1 on the task's test split with an exact 95% Clopper–Pearson interval.

Deviation from the paper, stated: VTAB-1k fine-tunes the whole network; this probe trains a linear head on
frozen features (cheap, deterministic, CPU-friendly). Full fine-tuning is not implemented.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from pydantic import Field, NonNegativeFloat

from biasbench.data.datasets import Dataset
from biasbench.data.images import ImageTransform
from biasbench.data.transfer import TransferTaskSpec
from biasbench.engine.inference import CLEAN, Batch
from biasbench.errors import BiasbenchError, DatasetError
from biasbench.probes.accuracy import proportion_record
from biasbench.probes.base import Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.store.records import Record
from biasbench.transfer.features import PenultimateFeatures
from biasbench.transfer.linear import DEFAULT_ALPHAS, select_and_fit


class TransferParams(ProbeParams):
    shots: int = Field(1000, ge=4)  # labelled training examples in total (VTAB-1k: 1000)
    max_test: int | None = Field(None, ge=1)  # score on a seeded subset of the test split (None: all of it)
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # held out to choose the ridge strength (VTAB: 200/1000)
    alphas: tuple[NonNegativeFloat, ...] = Field(DEFAULT_ALPHAS, min_length=1)  # ridge strengths tried


def _pick(indices: np.ndarray, count: int | None, rng: np.random.Generator) -> np.ndarray:
    """A seeded subset of ``count`` indices in ascending order (all of them when ``count`` is None or larger)."""
    if count is None or count >= len(indices):
        return indices
    return np.sort(rng.choice(indices, size=count, replace=False))


def split_indices(dataset: Dataset, shots: int, max_test: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training (``shots`` of the train split, seeded) and test indices of a transfer task."""
    splits = np.array([s.meta.get("split", "") for s in dataset.samples])
    train, test = np.flatnonzero(splits == "train"), np.flatnonzero(splits == "test")
    if shots > len(train):
        raise BiasbenchError(
            f"{dataset.name}: shots={shots} but only {len(train)} training examples are loaded "
            "(lower --set shots=..., or drop --limit)"
        )
    if not len(test):
        raise BiasbenchError(f"{dataset.name}: no test examples loaded (drop --limit; use --set max_test=N instead)")
    rng = np.random.default_rng(seed)
    return _pick(train, shots, rng), _pick(test, max_test, rng)


def _features(logits: torch.Tensor, _batch: Batch) -> dict[str, torch.Tensor]:
    return {"features": logits}


@register_probe
class Transfer(Probe):
    name = "transfer"
    summary = "few-shot transfer: linear probe on penultimate features, top-1 on the task's test split (95% CI)"
    citation = "Djolonga et al., CVPR 2021; Zhai et al. 2019 (VTAB-1k)"
    Params = TransferParams
    default_datasets = ("sklearn-digits",)

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        p = self.params
        dataset = ctx.dataset
        if not isinstance(dataset.spec, TransferTaskSpec):
            raise DatasetError(f"the transfer probe needs a downstream task with train/test splits, not {dataset.name}")
        train, test = split_indices(dataset, p.shots, p.max_test, ctx.seed)
        chosen = np.concatenate([train, test])
        subset = Dataset(dataset.spec, dataset.folder, tuple(dataset.samples[i] for i in chosen))
        result = ctx.engine.run(
            PenultimateFeatures(ctx.model),
            subset,
            _features,
            transform=ImageTransform(dataset.spec.resize_policy, ctx.model.preprocess),
            expected_classes=None,
            desc=f"{ctx.model.name} features",
        )
        rows = chosen[result.indices]
        features = result.outputs[CLEAN]["features"].astype(np.float64)
        labels = np.array([dataset.samples[i].label for i in rows])
        is_train = np.isin(rows, train)
        probe, val_scores = select_and_fit(
            features[is_train], labels[is_train], val_fraction=p.val_fraction, alphas=p.alphas, seed=ctx.seed
        )
        predictions = probe.predict(features[~is_train])
        hits = predictions == labels[~is_train]
        records = [
            proportion_record("top1", hits),
            Record("alpha", probe.alpha, int(is_train.sum())),
            Record("val_top1", val_scores[probe.alpha], int(round(is_train.sum() * p.val_fraction))),
            Record("feature_dim", float(features.shape[1])),
        ]
        samples = pd.DataFrame(
            {
                "index": rows[~is_train],
                "file": [str(dataset.samples[i].path.relative_to(dataset.folder)) for i in rows[~is_train]],
                "label": labels[~is_train],
                "prediction": predictions,
                "condition": CLEAN,
            }
        )
        notes = {"group": dataset.spec.group, "skipped": result.skipped, "train_examples": int(is_train.sum())}
        return ProbeOutput(records, samples, notes)
