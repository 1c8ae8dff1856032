"""``resolution``: the test-resolution sweep of Djolonga et al. (CVPR 2021, §B.5 of
CONTAMINATION_AND_META.md), FixRes-style (Touvron et al., NeurIPS 2019). At each test resolution r the image
is resized (shorter side r / crop_pct, the model's own crop fraction) and centre-cropped to r×r; sets fed at
their stored size (``native``: cue-conflict, ImageNet-C) are resized directly to r×r. Two protocols:

- ``naive``: the same weights evaluated at r;
- ``bn``: BatchNorm statistics re-estimated at r on a calibration set the user names (default: 256 seeded
  random images of the ImageNet sample; FixRes uses ImageNet-train images), on a deep copy, so the model itself
  never changes. Models without BatchNorm get the naive protocol only, with a note.

Records: top-1/top-5 per ``<protocol>/<r>``, and per protocol the best resolution and its top-1.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from pydantic import Field, PositiveInt

from biasbench.core.paths import resolve_data_root
from biasbench.data.datasets import Dataset, get_dataset_spec
from biasbench.data.pixels.images import ImageTransform, decode_rgb, to_uint8_tensor
from biasbench.data.pixels.transforms import BorderCropTransform
from biasbench.engine.inference import CLEAN, Engine
from biasbench.models.wrapper import Classifier
from biasbench.probes.accuracy import space_accuracy_records
from biasbench.probes.base import Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.probes.outputs import evaluate_labelled, feed_of
from biasbench.store.conditions import ResolutionSetting
from biasbench.store.metrics import Metric
from biasbench.store.records import Record

DEFAULT_RESOLUTIONS: tuple[int, ...] = (64, 128, 160, 192, 224, 256, 288, 320, 384, 448, 512, 640, 768)
"""The grid of §B.5: endpoints 64 and 768 from the paper; the interior points are a choice (unverified)."""


@dataclass(frozen=True)
class SquareResizeTransform(ImageTransform):
    """Resize the whole image to ``size``×``size`` (for already-square sets fed at their stored size)."""

    size: int = 224

    def __call__(self, path) -> torch.Tensor:
        image = decode_rgb(path).resize((self.size, self.size), Image.Resampling.BILINEAR)
        return to_uint8_tensor(image)

    @property
    def key(self) -> dict:
        return {"policy": "square", "size": self.size}


def transform_at(dataset: Dataset, model: Classifier, r: int) -> ImageTransform:
    """The dataset's pixel pipeline with the model's test resolution set to ``r``."""
    if dataset.spec.resize_policy == "native":
        return SquareResizeTransform("native", model.preprocess, r)
    preprocess = replace(model.preprocess, input_size=(r, r))
    border = dataset.spec.border_crop
    return BorderCropTransform("model", preprocess, border) if border else ImageTransform("model", preprocess)


def batchnorm_layers(model: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recalibrated_copy(model: Classifier, engine: Engine, calibration: Dataset, transform: ImageTransform) -> Classifier:
    """A deep copy of ``model`` whose BatchNorm running statistics are re-estimated on ``calibration`` under
    ``transform`` (cumulative average over batches, every other layer in eval mode); ``model`` is untouched."""
    clone = engine.prepare(copy.deepcopy(model))
    layers = batchnorm_layers(clone)
    momenta = [bn.momentum for bn in layers]
    for bn in layers:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average: every calibration batch weighs the same
        bn.train()
    for batch in engine.batches(feed_of(engine, calibration, transform)):
        clone(batch.images)
    for bn, momentum in zip(layers, momenta, strict=True):
        bn.momentum = momentum
    return clone.eval()


def data_root_of(dataset: Dataset) -> Path:
    """The data root a loaded dataset was found under (its folder minus the matching location)."""
    posix = dataset.folder.as_posix()
    for rel in dataset.spec.locations:
        if posix.endswith("/" + rel):
            return Path(posix[: -len(rel) - 1])
    return resolve_data_root()


def calibration_subset(name: str, count: int, ctx: ProbeContext) -> Dataset:
    """``count`` images of dataset ``name`` drawn uniformly without replacement (seeded), in canonical order: a
    head of a class-sorted set would calibrate on a few classes only."""
    full = get_dataset_spec(name).load(data_root_of(ctx.dataset))
    if count >= len(full):
        return full
    chosen = np.sort(np.random.default_rng(ctx.seed).choice(len(full), size=count, replace=False))
    return Dataset(full.spec, full.folder, tuple(full.samples[i] for i in chosen))


class ResolutionParams(ProbeParams):
    resolutions: tuple[PositiveInt, ...] = Field(DEFAULT_RESOLUTIONS, min_length=1)
    protocols: tuple[Literal["naive", "bn"], ...] = ("naive", "bn")
    calibration: str = "imagenet-sample"  # dataset whose images re-estimate BatchNorm statistics
    calibration_images: int = Field(256, ge=1)


RESOLUTION_TOP1 = Metric(
    "resolution",
    "top1",
    "Top-1 per resolution",
    "fraction",
    "more images right",
    condition=None,
    draw="curve",
    section="resolution",
)
BEST_RESOLUTION = Metric(
    "resolution",
    "best_resolution",
    "Best test resolution",
    "pixels",
    "a larger best input",
    condition=None,
    section="resolution",
)


@register_probe
class Resolution(Probe):
    name = "resolution"
    summary = "test-resolution sweep: top-1 at each resolution, naive and with BatchNorm re-estimated (FixRes)"
    citation = "Djolonga et al., CVPR 2021; Touvron et al., NeurIPS 2019 (FixRes)"
    Params = ResolutionParams
    default_datasets = ("imagenet-sample",)
    metrics = (
        RESOLUTION_TOP1,
        Metric("resolution", "top5", "Top-5 per resolution", "fraction", "more images right", condition=None),
        BEST_RESOLUTION,
        Metric(
            "resolution", "best_top1", "Top-1 at the best resolution", "fraction", "more images right", condition=None
        ),
    )

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        p = self.params
        protocols = list(dict.fromkeys(p.protocols))
        notes: dict = {"crop_pct": ctx.model.preprocess.crop_pct}
        if "bn" in protocols and not batchnorm_layers(ctx.model):
            protocols.remove("bn")
            notes["bn"] = "model has no BatchNorm layer: naive protocol only"
        calibration = None
        if "bn" in protocols:
            calibration = calibration_subset(p.calibration, p.calibration_images, ctx)
            notes["calibration"] = f"{p.calibration} ({len(calibration)} seeded random images)"
            evaluated = {s.path for s in ctx.dataset.samples}
            shared = sum(s.path in evaluated for s in calibration.samples)
            if shared:
                notes["calibration_overlap"] = (
                    f"{shared} calibration images are also evaluated (their labels are unused)"
                )
        records: list[Record] = []
        for protocol in protocols:
            best: Record | None = None
            for r in sorted(set(p.resolutions)):
                model = ctx.model
                if protocol == "bn":
                    model = recalibrated_copy(ctx.model, ctx.engine, calibration, transform_at(calibration, model, r))
                run = evaluate_labelled(
                    ProbeContext(model, ctx.dataset, ctx.engine, ctx.seed),
                    transform=transform_at(ctx.dataset, ctx.model, r),
                    desc=f"{ctx.model.name} {protocol}@{r}",
                )
                topk = run.result.outputs[CLEAN]["topk"]
                at = str(ResolutionSetting(protocol, r))
                cell = space_accuracy_records(run.space, topk.astype("int64"), run.samples, at)
                records += cell
                if best is None or cell[0].value > best.value:
                    best = replace(
                        cell[0], metric="best_top1", condition=str(ResolutionSetting(protocol))
                    )  # ties: smallest r
                    best_r = r
            records += [Record("best_resolution", float(best_r), best.n, best.condition), best]
        return ProbeOutput(records, None, notes)
