"""``criticality``: layer criticality (Gavrikov, Agnihotri, Keuper & Keuper 2024; METHODS.md §7).

Every selected conv/linear layer is in turn given a fresh initialisation from the architecture's own
initialiser (or zeros), everything else (BatchNorm statistics included) stays trained, and the softmax
outputs on a fixed, seeded image subset are compared with the unmodified model's:
criticality = (1 − mean cosine similarity) · 100, averaged over trials. The cosine compares the model's
1000-way softmax; accuracy (clean and after each reset) is scored in the dataset's label space. The image
subset is decoded once and kept in memory as uint8, so each of the layers × trials evaluations is forward
passes only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field
from tqdm.auto import tqdm

from biasbench.core.rng import sample_seed
from biasbench.data.datasets import Dataset, Sample
from biasbench.data.images import ImageTransform
from biasbench.data.label_spaces import LabelSpace, label_space_for
from biasbench.engine.inference import Batch, Engine, EngineResult, Reducer
from biasbench.models.layers import layer_stages, learnable_layers, replaced_layer, untrained_network
from biasbench.models.wrapper import Classifier
from biasbench.probes.accuracy import space_accuracy_records
from biasbench.probes.base import Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.probes.outputs import feed_of, outputs_frame, transform_of
from biasbench.store.records import Record


def seeded_subset(dataset: Dataset, num_images: int, seed: int) -> tuple[Dataset, np.ndarray]:
    """The first ``num_images`` samples in the order a ``DataLoader(shuffle=True)`` with a generator seeded
    by ``seed`` visits them — the study's 10k ImageNet-val subset (seed 0) — and their indices in
    ``dataset``. The loader draws its workers' base seed from the generator before the permutation."""
    g = torch.Generator().manual_seed(seed)
    torch.empty((), dtype=torch.int64).random_(generator=g)
    perm = torch.randperm(len(dataset), generator=g)[:num_images].numpy()
    return Dataset(dataset.spec, dataset.folder, tuple(dataset.samples[i] for i in perm)), perm


@dataclass
class DecodedImages:
    """A dataset decoded once into CPU uint8 batches, replayed on ``device`` for every evaluation."""

    batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # (indices, uint8 images, labels)
    device: torch.device

    @classmethod
    def decode(cls, engine: Engine, dataset: Dataset, transform: ImageTransform) -> DecodedImages:
        stored = []
        for b in engine.batches(feed_of(engine, dataset, transform)):
            # Engine images are k/255 exactly, so the round trip through uint8 is lossless.
            images = b.images.mul(255.0).round_().to(torch.uint8).cpu()
            stored.append((b.indices.cpu(), images, b.labels.cpu()))
        return cls(stored, engine.device)

    def __iter__(self) -> Iterator[Batch]:
        for indices, images, labels in self.batches:
            d = self.device
            yield Batch(indices.to(d), images.to(d).float().div_(255.0), labels.to(d))

    def column(self, position: int) -> np.ndarray:
        """Indices (0) or labels (2) of all images, in replay order."""
        if not self.batches:
            return np.zeros(0, dtype=np.int64)
        return torch.cat([b[position] for b in self.batches]).numpy()


@torch.no_grad()
def forward_all(engine: Engine, model: Classifier, images: DecodedImages, reduce: Reducer) -> dict[str, torch.Tensor]:
    """Run ``model`` over the decoded images and concatenate ``reduce``'s per-sample outputs (CPU)."""
    kept: dict[str, list[torch.Tensor]] = {}
    for batch in images:
        for key, value in reduce(engine.logits(model, batch.images), batch).items():
            kept.setdefault(key, []).append(value.cpu())
    return {k: torch.cat(v) for k, v in kept.items()}


def with_probabilities(reduce: Reducer) -> Reducer:
    """``reduce``'s per-sample outputs (a label space's) plus the model's 1000-way softmax ``probs``, the
    distribution the cosine similarity compares."""

    def both(logits: torch.Tensor, batch: Batch) -> dict[str, torch.Tensor]:
        return {**reduce(logits, batch), "probs": torch.softmax(logits, dim=1)}

    return both


def cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Per-row cosine similarity of two (N, C) probability tables, in float64."""
    return torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=1).numpy()


def layout_records(per_layer: dict[str, float], stages: dict[str, str], n: int) -> list[Record]:
    """Model-level records from per-layer criticality (``per_layer`` in network order): ``mean_criticality``
    (average over layers), ``stage_criticality`` (average over each stage's layers, condition = stage),
    and the network order the analysis sorts by: ``layer_index`` (condition = layer) and ``stage_index``
    (condition = stage), 0-based. The released layer-criticality data go through this function too."""
    by_stage: dict[str, list[float]] = {}
    for layer, value in per_layer.items():
        by_stage.setdefault(stages[layer], []).append(value)
    records = [Record("mean_criticality", float(np.mean(list(per_layer.values()))), n, "")]
    records += [Record("stage_criticality", float(np.mean(v)), n, s) for s, v in by_stage.items()]
    records += [Record("layer_index", float(i), n, layer) for i, layer in enumerate(per_layer)]
    records += [Record("stage_index", float(i), n, stage) for i, stage in enumerate(by_stage)]
    return records


def criticality_records(
    cos: dict[str, np.ndarray],
    correct: dict[str, np.ndarray],
    clean_top1: float,
    stages: dict[str, str],
) -> list[Record]:
    """Records from per-layer (trials, N) cosine similarities and (trials, M) top-1 correctness (M: the images
    the label space scores, N for every single-label space).

    ``criticality`` = (1 − mean over trials and images of cos) · 100; ``criticality_std`` = sample std over
    trials of the per-trial criticality (0 for one trial); ``top1`` at the layer = mean top-1 over trials with
    that layer reset (over the M scored images) and its ``accuracy_ratio`` to the clean top-1; then the
    model-level ``layout_records``.
    """
    records: list[Record] = []
    per_layer: dict[str, float] = {}
    for layer, c in cos.items():
        trials, n = c.shape
        per_trial = (1.0 - c.mean(axis=1)) * 100.0
        value = float((1.0 - c.mean()) * 100.0)
        per_layer[layer] = value
        acc = float(correct[layer].mean())
        records += [
            Record("criticality", value, n, layer),
            Record("criticality_std", float(per_trial.std(ddof=1)) if trials > 1 else 0.0, n, layer),
            Record("top1", acc, correct[layer].shape[1], layer),
            Record("accuracy_ratio", acc / clean_top1 if clean_top1 else float("nan"), n, layer),
        ]
    n = next(iter(cos.values())).shape[1] if cos else 0
    return records + layout_records(per_layer, stages, n)


def measure_layers(
    engine: Engine,
    model: Classifier,
    images: DecodedImages,
    clean_probs: torch.Tensor,
    space: LabelSpace,
    samples: Sequence[Sample],
    layers: list[str],
    replacement_network: Callable[[int], torch.nn.Module | None],
    trials: int,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per layer, (trials, N) cosine similarities to ``clean_probs`` and top-1 correctness in ``space`` (of
    ``samples``, in replay order) after giving the layer the parameters of ``replacement_network(trial)``'s
    same-named layer (zeros for None); the network is restored exactly after each layer."""
    reduce = with_probabilities(space.reducer(model=model.name))
    cos = {layer: np.zeros((trials, len(samples))) for layer in layers}
    correct = {layer: np.zeros((trials, len(samples)), dtype=bool) for layer in layers}
    for trial in range(trials):
        fresh = replacement_network(trial)  # one fresh network per trial, as in the study
        for layer in tqdm(
            layers,
            desc=f"{model.name} criticality trial {trial + 1}/{trials}",
            leave=False,
            disable=not engine.config.progress,
        ):
            replacement = None if fresh is None else fresh.get_submodule(layer)
            with replaced_layer(model.net, layer, replacement):
                out = forward_all(engine, model, images, reduce)
            cos[layer][trial] = cosine_similarity(clean_probs, out["probs"])
            correct[layer][trial] = space.hits(out["topk"].numpy().astype(np.int64), samples, 1)
    return cos, correct


class CriticalityParams(ProbeParams):
    num_images: int = Field(10_000, ge=1)
    trials: int = Field(3, ge=1)
    reset: Literal["reinit", "zero"] = "reinit"
    # Comma-separated globs over the raw network's module names, e.g. "layer3.*,fc".
    layers: str = "*"
    include_norm: bool = False


@register_probe
class Criticality(Probe):
    name = "criticality"
    summary = "layer criticality: (1 - cos(softmax before, after re-initialising one layer)) x 100, per layer"
    citation = "Gavrikov, Agnihotri, Keuper & Keuper, NeurIPS 2024 IAI workshop (arXiv 2410.14470)"
    Params = CriticalityParams
    default_datasets = ("imagenet-sample",)
    version = 3  # v3: clean top1/top5 at condition "" (was "clean"), top-1 after a reset is top1@<layer> (was
    # accuracy_after_reset), subset from the job seed; v2: layer_index

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        p = self.params
        subset, dataset_index = seeded_subset(ctx.dataset, p.num_images, ctx.seed)
        model = ctx.engine.prepare(ctx.model)
        transform = transform_of(subset, model)
        images = DecodedImages.decode(ctx.engine, subset, transform)
        space = label_space_for(subset)
        reduce = with_probabilities(space.reducer(model=model.name, dataset=subset.name))
        clean = forward_all(ctx.engine, model, images, reduce)
        clean_probs, clean_top5 = clean.pop("probs"), clean["topk"].numpy().astype(np.int64)
        indices = images.column(0)
        samples = [subset.samples[i] for i in indices]
        layers = learnable_layers(model.net, [s.strip() for s in p.layers.split(",")], p.include_norm)
        stages = layer_stages(model.net, layers)

        trials = 1 if p.reset == "zero" else p.trials  # zeros are deterministic: one trial says it all
        builders: set[str] = set()

        def replacement_network(trial: int) -> torch.nn.Module | None:
            if p.reset == "zero":
                return None
            net, builder = untrained_network(model, sample_seed(ctx.seed, trial, "criticality-init"))
            builders.add(builder)
            return net

        cos, correct = measure_layers(
            ctx.engine, model, images, clean_probs, space, samples, layers, replacement_network, trials
        )
        accuracy = space_accuracy_records(space, clean_top5, samples)
        scored = space.scored(samples)  # accuracy after a reset over the images the clean accuracy counts
        scored_correct = {layer: c[:, scored] for layer, c in correct.items()}
        records = accuracy + criticality_records(cos, scored_correct, accuracy[0].value, stages)
        return ProbeOutput(
            records,
            self._samples(subset, indices, dataset_index, clean, cos, correct),
            {
                "layers": len(layers),
                "images": len(samples),
                "trials": trials,
                "init": sorted(builders) or ["zero"],
                "transform": transform.key,
            },
        )

    @staticmethod
    def _samples(subset, indices, dataset_index, clean, cos, correct) -> pd.DataFrame:
        """Clean per-sample outputs plus, per layer, the trial-mean cosine similarity and top-1 hit rate."""
        result = EngineResult(indices, {"clean": {k: v.numpy() for k, v in clean.items()}})
        frame = outputs_frame(subset, result, dataset_index=dataset_index[indices])
        base = frame[["index", "file", "label", "dataset_index"]]
        layer_frames = [
            base.assign(condition=c, cos_sim=cos[c].mean(axis=0), top1_after=correct[c].mean(axis=0)) for c in cos
        ]
        return pd.concat([frame, *layer_frames], ignore_index=True)
