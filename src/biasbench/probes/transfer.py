"""``transfer``: few-shot transfer in the VTAB-1k spirit (Djolonga et al., CVPR 2021, §B.2 of
CONTAMINATION_AND_META.md). The frozen model's penultimate features of ``shots`` labelled training examples
feed a linear probe (closed-form ridge, regulariser chosen on a held-out 20% of those examples, then refitted
on all of them); the score is top-1 on the task's test split with an exact 95% Clopper–Pearson interval.

``method="linear"`` (the default) is a stated deviation from the paper: VTAB-1k fine-tunes the whole network;
the linear head on frozen features is cheap, deterministic and CPU-friendly. ``method="finetune"`` follows
VTAB-1k (for GPU users): a copy of the model with a fresh linear head, all parameters trained with
``google-research/task_adaptation``'s schedule (see ``biasbench.adaptation.finetune``) on the model's own
preprocessing without augmentation; the learning rate is the one given, or chosen among several on the same
held-out split as alpha (then refitted on all examples). Its records carry ``condition="finetune"``; the
linear probe's keep ``condition=""``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, NonNegativeFloat, PositiveFloat

from biasbench.adaptation.features import PenultimateFeatures
from biasbench.adaptation.finetune import FinetuneConfig, finetune, select_lr
from biasbench.adaptation.linear import DEFAULT_ALPHAS, select_and_fit
from biasbench.core.errors import BiasbenchError, DatasetError
from biasbench.data.catalogue.downstream_tasks import TransferTaskSpec
from biasbench.data.datasets import Dataset
from biasbench.data.pixels.feed import Feed
from biasbench.data.pixels.images import ImageTransform
from biasbench.engine.inference import CLEAN, Batch
from biasbench.probes.accuracy import proportion_record
from biasbench.probes.base import Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.probes.outputs import feed_of
from biasbench.store.metrics import Metric
from biasbench.store.records import Record

FINETUNE = "finetune"  # condition of the fine-tuning records


class TransferParams(ProbeParams):
    shots: int = Field(1000, ge=4)  # labelled training examples in total (VTAB-1k: 1000)
    max_test: int | None = Field(None, ge=1)  # score on a seeded subset of the test split (None: all of it)
    val_fraction: float = Field(0.2, gt=0.0, lt=1.0)  # held out to choose the ridge strength (VTAB: 200/1000)
    alphas: tuple[NonNegativeFloat, ...] = Field(DEFAULT_ALPHAS, min_length=1)  # ridge strengths tried
    method: Literal["linear", "finetune"] = "linear"  # linear probe on frozen features, or full fine-tuning
    # Fine-tuning only (defaults: task_adaptation's VTAB script). Several learning rates: chosen on val_fraction.
    learning_rates: tuple[PositiveFloat, ...] = Field((0.01,), min_length=1)
    steps: int = Field(1000, ge=1)  # SGD steps (warm-up over the first 8%, rate /10 at 30%, 60%, 90%)
    batch_size: int = Field(64, ge=2)  # >= 2 so BatchNorm has batch statistics
    momentum: float = Field(0.9, ge=0.0, lt=1.0)


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


def _predictions(logits: torch.Tensor, _batch: Batch) -> dict[str, torch.Tensor]:
    return {"prediction": logits.argmax(1)}


TRANSFER_TOP1 = Metric(
    "transfer", "top1", "Transfer top-1", "fraction", "more test images right", condition=None, section="transfer"
)


@register_probe
class Transfer(Probe):
    name = "transfer"
    summary = "few-shot transfer: linear probe on penultimate features (or full fine-tuning), top-1 on the test split"
    citation = "Djolonga et al., CVPR 2021; Zhai et al. 2019 (VTAB-1k)"
    Params = TransferParams
    default_datasets = ("sklearn-digits",)
    metrics = (
        TRANSFER_TOP1,
        Metric("transfer", "alpha", "Ridge strength chosen", "alpha", "stronger regularisation", when="method=linear"),
        Metric("transfer", "val_top1", "Validation top-1 of the choice", "fraction", "more right", condition=None),
        Metric("transfer", "feature_dim", "Feature dimension", "features", "wider features", when="method=linear"),
        Metric(
            "transfer",
            "learning_rate",
            "Learning rate chosen",
            "rate",
            "faster",
            condition="finetune",
            when="method=finetune",
        ),
    )

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        p = self.params
        dataset = ctx.dataset
        if not isinstance(dataset.spec, TransferTaskSpec):
            raise DatasetError(f"the transfer probe needs a downstream task with train/test splits, not {dataset.name}")
        train, test = split_indices(dataset, p.shots, p.max_test, ctx.seed)
        output = METHODS[p.method](self, ctx, train, test)
        output.notes.update(group=dataset.spec.group, method=p.method)
        return output

    def _linear(self, ctx: ProbeContext, train: np.ndarray, test: np.ndarray) -> ProbeOutput:
        """Ridge probe on the frozen model's penultimate features (records with condition ``""``)."""
        p, dataset = self.params, ctx.dataset
        chosen = np.concatenate([train, test])
        result = ctx.engine.run(
            PenultimateFeatures(ctx.model),
            _feed(ctx, _subset(dataset, chosen)),
            _features,
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
        records = [
            proportion_record("top1", predictions == labels[~is_train]),
            Record("alpha", probe.alpha, int(is_train.sum())),
            Record("val_top1", val_scores[probe.alpha], int(round(is_train.sum() * p.val_fraction))),
            Record("feature_dim", float(features.shape[1])),
        ]
        samples = _samples(dataset, rows[~is_train], predictions, CLEAN)
        return ProbeOutput(records, samples, {"skipped": result.skipped, "train_examples": int(is_train.sum())})

    def _finetune(self, ctx: ProbeContext, train: np.ndarray, test: np.ndarray) -> ProbeOutput:
        """Full fine-tuning of a copy of the model with a fresh head (records with condition ``"finetune"``)."""
        p, dataset = self.params, ctx.dataset
        device = ctx.engine.device
        skipped: list[str] = []
        images, labels = _pixels(ctx, _subset(dataset, train), skipped)
        num_classes = 1 + max(s.label for s in dataset.samples)
        config = FinetuneConfig(p.steps, p.batch_size, p.momentum, ctx.seed)
        lr, val_scores = select_lr(
            ctx.model, images, labels, num_classes, p.learning_rates, config, device, val_fraction=p.val_fraction
        )
        model = finetune(ctx.model, images, labels, num_classes, lr, config, device)
        result = ctx.engine.run(
            model, _feed(ctx, _subset(dataset, test)), _predictions, desc=f"{ctx.model.name} fine-tuned"
        )
        rows = test[result.indices]
        predictions = result.outputs[CLEAN]["prediction"]
        hits = predictions == np.array([dataset.samples[i].label for i in rows])
        records = [
            proportion_record("top1", hits, FINETUNE),
            Record("learning_rate", lr, len(labels), FINETUNE),
        ]
        if val_scores:
            records.append(Record("val_top1", val_scores[lr], int(round(len(labels) * p.val_fraction)), FINETUNE))
        samples = _samples(dataset, rows, predictions, FINETUNE)
        notes = {"skipped": skipped + result.skipped, "train_examples": len(labels), "steps": p.steps}
        return ProbeOutput(records, samples, notes)


METHODS: dict[str, Callable[[Transfer, ProbeContext, np.ndarray, np.ndarray], ProbeOutput]] = {
    "linear": Transfer._linear,
    "finetune": Transfer._finetune,
}


def _subset(dataset: Dataset, indices: np.ndarray) -> Dataset:
    return Dataset(dataset.spec, dataset.folder, tuple(dataset.samples[i] for i in indices))


def _feed(ctx: ProbeContext, subset: Dataset) -> Feed:
    """``subset`` of the task streamed at the model's standard preprocessing."""
    return feed_of(ctx.engine, subset, ImageTransform(ctx.dataset.spec.resize_policy, ctx.model.preprocess))


def _pixels(ctx: ProbeContext, subset: Dataset, skipped: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Every decoded image of ``subset`` as uint8 (N, 3, H, W) on the CPU (exact: the engine's x/255 times 255,
    rounded) and its labels, through the engine's batch iterator."""
    images, labels = [], []
    feed = _feed(ctx, subset)
    for batch in ctx.engine.batches(feed):
        images.append(batch.images.mul(255.0).round_().to(torch.uint8).cpu())
        labels.append(batch.labels.cpu())
    skipped.extend(feed.skipped)
    return torch.cat(images), torch.cat(labels)


def _samples(dataset: Dataset, rows: np.ndarray, predictions: np.ndarray, condition: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "index": rows,
            "file": [str(dataset.samples[i].path.relative_to(dataset.folder)) for i in rows],
            "label": [dataset.samples[i].label for i in rows],
            "prediction": predictions,
            "condition": condition,
        }
    )
