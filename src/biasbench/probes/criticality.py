"""``criticality``: layer criticality (Gavrikov, Agnihotri, Keuper & Keuper 2024; METHODS.md §7).

Every selected layer (conv, linear, attention input projection, bare projection matrix:
``biasbench.models.layers``) is in turn given a fresh initialisation from the architecture's own initialiser
(or zeros), everything else (BatchNorm statistics included) stays trained, and the softmax outputs on a fixed,
seeded image subset are compared with the unmodified model's: criticality = (1 − mean cosine similarity) · 100,
averaged over trials. The cosine compares the soft-max over all of the model's logits (1000 for an ImageNet
head); accuracy (unmodified and after each reset) is scored in the dataset's label space as the model's head
gives it.

Shifted test data: ``dataset=`` is any dataset (ImageNet-C on disk, ImageNet-R, ...), and ``perturbation=``
shifts the subset first (``biasbench.probes.shifts``: a generated corruption, or adversarial images computed
once against the unmodified model). Both models, unmodified and reset, then see the same shifted images, so
criticality measures how much a layer's reset changes the prediction on shifted data. The unmodified model's
``top1`` / ``top5`` carry the perturbation as their condition. The image subset is decoded (and shifted) once
and kept in memory (uint8; float32 after a perturbation that leaves the 8-bit grid, e.g. an attack), so each
of the layers × trials evaluations is forward passes only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, field_validator
from tqdm.auto import tqdm

from biasbench.core.errors import HeadSizeError
from biasbench.core.rng import sample_seed
from biasbench.data.datasets import Dataset, Sample
from biasbench.data.labels.spaces import LabelSpace, label_space_for
from biasbench.data.pixels.images import ImageTransform
from biasbench.data.pixels.transforms import image_transform
from biasbench.engine.inference import CLEAN, Batch, Engine, EngineResult, Perturbation, Reducer
from biasbench.models.layers import layer_stages, layer_state, learnable_layers, replaced_layer, untrained_network
from biasbench.models.wrapper import Classifier
from biasbench.probes.accuracy import space_accuracy_records
from biasbench.probes.base import DemoRun, Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.probes.outputs import feed_of, outputs_frame
from biasbench.probes.shifts import parse_shift
from biasbench.store.metrics import Metric
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
    """A dataset decoded (and optionally shifted) once into CPU batches, replayed on ``device`` for every
    evaluation: uint8 pixels, or float32 [0,1] images after a shift that leaves the 8-bit grid."""

    batches: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # (indices, images, labels)
    device: torch.device

    @classmethod
    def decode(
        cls,
        engine: Engine,
        dataset: Dataset,
        transform: ImageTransform,
        shift: Perturbation | None = None,
        dataset_index: np.ndarray | None = None,
    ) -> DecodedImages:
        """Decode ``dataset``; ``shift(x, indices)`` is applied to each batch with the images' indices in the
        full dataset (``dataset_index``, default their own), which key its per-image draws."""
        stored = []
        positions = torch.as_tensor(dataset_index if dataset_index is not None else np.arange(len(dataset)))
        for b in engine.batches(feed_of(engine, dataset, transform)):
            images = b.images
            if shift is not None:
                images = shift(images, positions[b.indices.cpu()].to(images.device)).detach().float()
            on_grid = images.mul(255.0).round_()
            if torch.equal(on_grid.div(255.0), images):  # replaying k/255 from uint8 gives these very values
                images = on_grid.to(torch.uint8)
            stored.append((b.indices.cpu(), images.cpu(), b.labels.cpu()))
        return cls(stored, engine.device)

    def __iter__(self) -> Iterator[Batch]:
        for indices, images, labels in self.batches:
            d = self.device
            x = images.to(d).float()
            yield Batch(indices.to(d), x.div_(255.0) if images.dtype == torch.uint8 else x, labels.to(d))

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
            replacement = None if fresh is None else layer_state(fresh, layer)
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
    # A shift of the subset before the comparison (biasbench.probes.shifts), e.g. "generated/fog/3" or
    # "pgd/linf/eps=0.5/255"; "" = the images as they are.
    perturbation: str = ""

    @field_validator("perturbation")
    @classmethod
    def _known_shift(cls, value: str) -> str:
        shift = parse_shift(value)
        return "" if shift is None else shift.text  # as its condition writes it (records carry it)


CRITICALITY = Metric(
    "criticality",
    "criticality",
    "Layer criticality",
    "fraction",
    "a layer the network needs more",
    condition=None,
    draw="curve",
)


@register_probe
class Criticality(Probe):
    name = "criticality"
    summary = "layer criticality: (1 - cos(softmax before, after re-initialising one layer)) x 100, per layer"
    citation = "Gavrikov, Agnihotri, Keuper & Keuper, NeurIPS 2024 IAI workshop (arXiv 2410.14470)"
    Params = CriticalityParams
    default_datasets = ("imagenet-sample",)
    # v4: attention input projections and bare projection matrices are layers, the perturbation parameter; v3:
    # clean top1/top5 at condition "" (was "clean"), top-1 after a reset is top1@<layer> (was
    # accuracy_after_reset), subset from the job seed; v2: layer_index
    version = 4
    metrics = (
        Metric("criticality", "top5", "Top-5 accuracy", "fraction", "more images right", condition=None),
        CRITICALITY,
        Metric(
            "criticality", "criticality_std", "Criticality SD over trials", "fraction", "less stable", condition=None
        ),
        Metric("criticality", "top1", "Top-1 with the layer reset", "fraction", "more images right", condition=None),
        Metric(
            "criticality", "accuracy_ratio", "Top-1 with the layer reset / clean", "ratio", "less harm", condition=None
        ),
        Metric("criticality", "mean_criticality", "Mean criticality", "fraction", "layers needed more", headline=True),
        Metric(
            "criticality",
            "stage_criticality",
            "Criticality per stage",
            "fraction",
            "a stage needed more",
            condition=None,
        ),
        Metric("criticality", "layer_index", "Depth of the layer", "index", "deeper", condition=None),
        Metric("criticality", "stage_index", "Depth of the stage", "index", "deeper", condition=None),
    )
    demo = (DemoRun(("imagenet-sample",), params={"num_images": 8, "trials": 1}),)

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        p = self.params
        subset, dataset_index = seeded_subset(ctx.dataset, p.num_images, ctx.seed)
        model = ctx.engine.prepare(ctx.model)
        transform = image_transform(subset, model.preprocess)
        space = label_space_for(subset, model.head)
        images = DecodedImages.decode(ctx.engine, subset, transform, self._shift(ctx, model, space), dataset_index)
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
        accuracy = space_accuracy_records(space, clean_top5, samples, p.perturbation)
        scored = space.scored(samples)  # accuracy after a reset over the images the clean accuracy counts
        scored_correct = {layer: c[:, scored] for layer, c in correct.items()}
        records = accuracy + criticality_records(cos, scored_correct, accuracy[0].value, stages)
        return ProbeOutput(
            records,
            self._samples(subset, indices, dataset_index, clean, cos, correct, p.perturbation or CLEAN),
            {
                "layers": len(layers),
                "images": len(samples),
                "trials": trials,
                "init": sorted(builders) or ["zero"],
                "transform": transform.key,
                "perturbation": p.perturbation,
            },
        )

    def _shift(self, ctx: ProbeContext, model: Classifier, space: LabelSpace) -> Perturbation | None:
        """The subset's shift for ``model`` (None without one); attacks need ImageNet-indexed labels."""
        shift = parse_shift(self.params.perturbation)
        if shift is None:
            return None
        if shift.needs_labels and not space.labels_are_imagenet:
            raise HeadSizeError(
                f"perturbation {shift.text!r} attacks the ImageNet labels; {ctx.dataset.name} uses {space.name}"
            )
        labels = torch.tensor([s.label for s in ctx.dataset.samples], dtype=torch.long)
        return shift.build(model, labels, ctx.seed)

    @staticmethod
    def _samples(subset, indices, dataset_index, clean, cos, correct, condition) -> pd.DataFrame:
        """The unmodified model's per-sample outputs (at ``condition``: clean, or the perturbation) plus, per
        layer, the trial-mean cosine similarity and top-1 hit rate."""
        result = EngineResult(indices, {condition: {k: v.numpy() for k, v in clean.items()}})
        frame = outputs_frame(subset, result, dataset_index=dataset_index[indices])
        base = frame[["index", "file", "label", "dataset_index"]]
        layer_frames = [
            base.assign(condition=c, cos_sim=cos[c].mean(axis=0), top1_after=correct[c].mean(axis=0)) for c in cos
        ]
        return pd.concat([frame, *layer_frames], ignore_index=True)
