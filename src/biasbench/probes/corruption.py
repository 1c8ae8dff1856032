"""``corruption``: accuracy under common corruptions, either read from disk (ImageNet-C / ImageNet-C-bar,
fed at their stored 224 px) or generated on the fly (all 19 ImageNet-C corruptions, seeded per image, see
``biasbench.perturb.corruptions``).

The two modes give different numbers (JPEG round trip, implementations, RNG; ANCHORS.md §3 pitfall 9), so
every record carries its mode in the condition: ``ondisk/<corruption>/<severity>`` or ``generated/…``.

Generated images are stored as ``save_as`` before the model sees them: ``jpeg85`` (default: 8-bit, then a
quality-85 JPEG round trip, exactly how the released ImageNet-C files were written, so generated numbers are
comparable to on-disk ones; the round trip matters: on sample images it changes gaussian-noise images by ~26
8-bit levels on average, smooth corruptions by 1-3), ``uint8`` (8-bit only: computed in float64 from the 8-bit
image and truncated as ImageNet-C's ``np.uint8``) or ``float`` (the corruption as computed).

Generated images follow an input-size protocol, ``input_size``: ``imagenet-c`` (default) makes every image as
``make_imagenet_c.py`` does — shorter side resized to 256 (bilinear), centre crop 224 — corrupts it at 224 px and
feeds it at 224 px to every model, as the released ImageNet-C files are fed; ``model`` uses each model's own
preprocessing (its input size and crop) and corrupts at that size with ImageNet-C's 224-px parameters.
Datasets stored at a fixed size (``resize_policy="native"``) are corrupted as stored under either protocol.

Scalars (METHODS.md §5.1, CONTAMINATION_AND_META.md §B.3), under their canonical names only when computed on
the complete set (every corruption of the benchmark — ImageNet-C's 19, C-bar's 10 — at all 5 severities; for
mCE the 15 standard corruptions at all 5 severities). A partial set gives ``<name>_subset`` instead, with the
corruptions (and severities, when not all 5) in the condition, so a subset is never mistaken for the benchmark:
- ``mean_accuracy``: unweighted mean top-1 over all corruption × severity sets (the CVPR 2024 study's
  ImageNet-C / C-bar number: 19 × 5 and 10 × 5 sets).
- ``mce``: mean over corruptions of E_c / E_c^AlexNet, with E_c the error averaged over severities (only
  the 15 standard corruptions have AlexNet references).
- ``relative_mce``: mean of (E_c − E_clean) / (E_c^AlexNet − E_clean^AlexNet); needs the model's clean
  accuracy (measured in generated mode; the ``clean_top1`` parameter in on-disk mode).
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, field_validator

from biasbench.core.errors import BiasbenchError, UnknownNameError
from biasbench.core.preprocessing import Preprocess
from biasbench.data.datasets import DATASETS, Dataset
from biasbench.data.pixels.images import ImageTransform
from biasbench.data.pixels.transforms import BorderCropTransform
from biasbench.engine.inference import CLEAN
from biasbench.perturb.corruptions import CORRUPTIONS, SAVE_AS, corruption_perturbation, imagenet_c_corruptions
from biasbench.probes.accuracy import proportion_record
from biasbench.probes.base import DemoRun, Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.probes.outputs import evaluate_labelled, outputs_frame, record_condition
from biasbench.store.conditions import CorruptionSet, CorruptionSubset
from biasbench.store.metrics import Metric
from biasbench.store.records import Record

# AlexNet's errors averaged over severities 1-5 (Hendrycks & Dietterich, ICLR 2019, Appendix C).
ALEXNET_ERRORS: dict[str, float] = {
    "gaussian_noise": 0.886, "shot_noise": 0.894, "impulse_noise": 0.923, "defocus_blur": 0.820,
    "glass_blur": 0.826, "motion_blur": 0.786, "zoom_blur": 0.798, "snow": 0.867, "frost": 0.827, "fog": 0.819,
    "brightness": 0.565, "contrast": 0.853, "elastic_transform": 0.646, "pixelate": 0.718,
    "jpeg_compression": 0.607,
}  # fmt: skip
ALEXNET_CLEAN_ERROR = 0.4348

SetKey = tuple[str, int]  # (corruption, severity)
SEVERITIES = (1, 2, 3, 4, 5)
# make_imagenet_c.py's trn.Resize(256) + trn.CenterCrop(224) (PIL bilinear), as timm's eval-transform fields.
IMAGENET_C_PREPROCESS = Preprocess(input_size=(224, 224), crop_pct=224 / 256, interpolation="bilinear")


def corruption_errors(accuracy: dict[SetKey, float]) -> dict[str, float]:
    """E_c: error averaged over the severities present for each corruption."""
    by_c: dict[str, list[float]] = defaultdict(list)
    for (c, _), acc in accuracy.items():
        by_c[c].append(1.0 - acc)
    return {c: float(np.mean(v)) for c, v in by_c.items()}


def mean_corruption_error(accuracy: dict[SetKey, float]) -> tuple[float, dict[str, float]]:
    """(mCE, CE_c per corruption) over the corruptions with an AlexNet reference; NaN when none."""
    ce = {c: e / ALEXNET_ERRORS[c] for c, e in corruption_errors(accuracy).items() if c in ALEXNET_ERRORS}
    return (float(np.mean(list(ce.values()))) if ce else math.nan), ce


def relative_mce(accuracy: dict[SetKey, float], clean_accuracy: float) -> float:
    """Relative mCE: mean_c (E_c − E_clean) / (E_c^AlexNet − E_clean^AlexNet)."""
    clean_error = 1.0 - clean_accuracy
    rel = [
        (e - clean_error) / (ALEXNET_ERRORS[c] - ALEXNET_CLEAN_ERROR)
        for c, e in corruption_errors(accuracy).items()
        if c in ALEXNET_ERRORS
    ]
    return float(np.mean(rel)) if rel else math.nan


def covers(accuracy: dict[SetKey, float], corruptions) -> bool:
    """Whether every one of ``corruptions`` (a non-empty set) was measured at all five severities."""
    return bool(corruptions) and {(c, s) for c in corruptions for s in SEVERITIES} <= set(accuracy)


def subset_label(mode: str, keys) -> str:
    """The condition of a subset aggregate (``CorruptionSubset``: its corruptions, its severities unless all five)."""
    names = tuple(sorted({c for c, _ in keys}))
    severities = tuple(sorted({s for _, s in keys}))
    return str(CorruptionSubset(mode, names, () if severities == SEVERITIES else severities))


def summary_records(
    mode: str,
    accuracy: dict[SetKey, float],
    n_images: int,
    clean_accuracy: float | None,
    benchmark: tuple[str, ...],
) -> list[Record]:
    """Per-corruption accuracy and CE, then mean_accuracy, mce and relative_mce for one mode. The aggregates
    keep their canonical names only on the complete set (``benchmark`` × 5 severities; the 15 standard
    corruptions × 5 for mCE), else they are named ``*_subset`` with the subset in the condition."""
    records = []
    errors = corruption_errors(accuracy)
    mce, ce = mean_corruption_error(accuracy)
    for c, e in errors.items():
        condition = str(CorruptionSet(mode, c))
        records.append(Record("corruption_accuracy", 1.0 - e, n_images, condition))
        if c in ce:
            records.append(Record("ce", ce[c], n_images, condition))
    mean = float(np.mean(list(accuracy.values())))
    if covers(accuracy, benchmark):
        records.append(Record("mean_accuracy", mean, n_images, str(CorruptionSet(mode))))
    else:
        records.append(Record("mean_accuracy_subset", mean, n_images, subset_label(mode, accuracy)))
    if ce:
        standard = [k for k in accuracy if k[0] in ALEXNET_ERRORS]
        full = covers(accuracy, ALEXNET_ERRORS)
        suffix, condition = ("", str(CorruptionSet(mode))) if full else ("_subset", subset_label(mode, standard))
        records.append(Record("mce" + suffix, mce, len(ce), condition))
        if clean_accuracy is not None:
            records.append(Record("relative_mce" + suffix, relative_mce(accuracy, clean_accuracy), len(ce), condition))
    return records


class CorruptionParams(ProbeParams):
    mode: Literal["auto", "ondisk", "generated"] = "auto"  # "auto": on disk for ImageNet-C/C-bar, else generated
    corruptions: tuple[str, ...] = ()  # () = all (all on disk; generated: ImageNet-C's 19, imagenet_c_corruptions())
    severities: tuple[Annotated[int, Field(ge=1, le=5)], ...] = Field(SEVERITIES, min_length=1)
    clean_top1: float | None = Field(None, ge=0.0, le=1.0)  # on-disk mode: the model's clean top-1 (relative mCE)
    save_as: str = "jpeg85"  # generated mode: "jpeg85" (as the ImageNet-C files), "uint8" or "float"
    # generated mode: "imagenet-c" (resize 256, crop 224, fed at 224 to every model) or "model" (its own input size)
    input_size: Literal["imagenet-c", "model"] = "imagenet-c"

    @field_validator("corruptions")
    @classmethod
    def _known_corruptions(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        ondisk = {c for spec in DATASETS.values() if spec.ondisk for c in spec.corruptions}
        known = set(CORRUPTIONS) | ondisk
        for name in names:
            if name not in known:
                raise ValueError(str(UnknownNameError("corruption", name, known)))
        return names

    @field_validator("save_as")
    @classmethod
    def _known_storage(cls, save_as: str) -> str:
        if save_as not in SAVE_AS:
            raise ValueError(f"not one of {', '.join(SAVE_AS)}")
        return save_as


MEAN_ACCURACY = Metric(
    "corruption",
    "mean_accuracy",
    "Mean corruption accuracy",
    "fraction",
    "more corrupted images right",
    role="score",
    condition=None,
    noun="mean corruption accuracy",
    when="the whole benchmark (every corruption x 5 severities)",
    headline=True,
)


@register_probe
class CorruptionAccuracy(Probe):
    name = "corruption"
    summary = "accuracy under common corruptions (ImageNet-C/C-bar on disk, or generated): mean, mCE, rel. mCE"
    citation = "Hendrycks & Dietterich, ICLR 2019; Mintun et al., NeurIPS 2021 (C-bar)"
    Params = CorruptionParams
    # 4: generated images made at 224 px for every model (input_size), 8-bit storage truncated as np.uint8 from
    # float64, ImageNet-C's snow order; 3: clean top-1 is top1 at "" (was clean_accuracy at "generated");
    # 2: all 19 generated corruptions, seeds per severity, PIL-exact pixelate, jpeg85 storage, *_subset names
    version = 4
    default_datasets = ("imagenet-sample",)
    metrics = (
        Metric(
            "corruption", "top1", "Top-1 per corruption and severity", "fraction", "more images right", condition=None
        ),
        Metric(
            "corruption",
            "corruption_accuracy",
            "Accuracy per corruption",
            "fraction",
            "more images right",
            condition=None,
        ),
        Metric(
            "corruption",
            "ce",
            "Corruption error (AlexNet-normalised)",
            "ratio",
            "more errors",
            condition=None,
            when="a standard ImageNet-C corruption",
        ),
        MEAN_ACCURACY,
        Metric(
            "corruption",
            "mean_accuracy_subset",
            "Mean accuracy of a subset",
            "fraction",
            "more images right",
            condition=None,
            when="not the whole benchmark",
            headline=True,
        ),
        Metric(
            "corruption", "mce", "mCE", "ratio", "more errors", condition=None, when="all 15 standard corruptions x 5"
        ),
        Metric(
            "corruption",
            "mce_subset",
            "mCE of a subset",
            "ratio",
            "more errors",
            condition=None,
            when="some standard corruptions",
        ),
        Metric(
            "corruption",
            "relative_mce",
            "Relative mCE",
            "ratio",
            "a larger drop from clean",
            condition=None,
            when="all 15 standard corruptions x 5 and the clean top-1",
        ),
        Metric(
            "corruption",
            "relative_mce_subset",
            "Relative mCE of a subset",
            "ratio",
            "a larger drop from clean",
            condition=None,
            when="some standard corruptions and the clean top-1",
        ),
    )
    # 4 cheap generated corruptions at severities 1/3/5: a subset's mean accuracy, not mCE
    demo = (
        DemoRun(
            ("imagenet-sample",),
            64,
            {
                "mode": "generated",
                "severities": [1, 3, 5],
                "corruptions": ["gaussian_noise", "defocus_blur", "contrast", "jpeg_compression"],
            },
        ),
    )

    def mode(self, dataset: Dataset) -> str:
        ondisk = dataset.spec.ondisk
        mode = self.params.mode
        if mode == "auto":
            return "ondisk" if ondisk else "generated"
        if mode not in ("ondisk", "generated") or (mode == "ondisk") != ondisk:
            raise BiasbenchError(
                f"corruption mode {mode!r} does not fit dataset {dataset.name!r}: 'ondisk' needs imagenet-c or "
                "imagenet-cbar, 'generated' a clean dataset such as imagenet-sample or imagenet-val"
            )
        return mode

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        if self.mode(ctx.dataset) == "ondisk":
            return self.run_ondisk(ctx)
        return self.run_generated(ctx)

    def run_ondisk(self, ctx: ProbeContext) -> ProbeOutput:
        wanted = set(self.params.corruptions)
        samples = tuple(
            s
            for s in ctx.dataset.samples
            if (not wanted or s.meta["corruption"] in wanted) and s.meta["severity"] in self.params.severities
        )
        dataset = Dataset(ctx.dataset.spec, ctx.dataset.folder, samples)
        run = evaluate_labelled(ctx, desc=f"{ctx.model.name} corruption", dataset=dataset)
        result, kept = run.result, run.samples
        hits = run.space.hits(result.outputs[CLEAN]["topk"].astype(np.int64), kept, 1)
        groups: dict[SetKey, list[int]] = defaultdict(list)
        for j, s in enumerate(kept):
            groups[(s.meta["corruption"], s.meta["severity"])].append(j)
        records, accuracy = [], {}
        for key in sorted(groups):
            rec = proportion_record("top1", hits[groups[key]], str(CorruptionSet("ondisk", *key)))
            records.append(rec)
            accuracy[key] = rec.value
        benchmark = ctx.dataset.spec.corruptions
        records += summary_records("ondisk", accuracy, len(kept), self.params.clean_top1, benchmark)
        frame = outputs_frame(
            dataset,
            result,
            corruption=np.array([s.meta["corruption"] for s in kept]),
            severity=np.array([s.meta["severity"] for s in kept]),
        )
        notes = {"skipped": result.skipped, "mode": "ondisk", "sets": [f"{c}/{s}" for c, s in sorted(groups)]}
        return ProbeOutput(records, frame, notes)

    def run_generated(self, ctx: ProbeContext) -> ProbeOutput:
        names = self.params.corruptions or imagenet_c_corruptions()
        for name in names:
            if name not in CORRUPTIONS:
                raise BiasbenchError(f"no generated corruption {name!r}; implemented: {', '.join(CORRUPTIONS)}")
        save_as = self.params.save_as
        keys = [(c, s) for c in names for s in self.params.severities]
        conditions = {CLEAN: None} | {
            str(CorruptionSet("generated", c, s)): corruption_perturbation(c, s, ctx.seed, save_as) for c, s in keys
        }
        run = evaluate_labelled(ctx, conditions, desc=f"{ctx.model.name} corruption", transform=self.transform(ctx))
        result, space, samples = run.result, run.space, run.samples

        def top1(condition: str) -> Record:
            hits = space.hits(result.outputs[condition]["topk"].astype(np.int64), samples, 1)
            return proportion_record("top1", hits, record_condition(condition))

        clean = top1(CLEAN)
        records = [clean]
        accuracy = {}
        for c, s in keys:
            rec = top1(str(CorruptionSet("generated", c, s)))
            records.append(rec)
            accuracy[(c, s)] = rec.value
        records += summary_records("generated", accuracy, len(samples), clean.value, imagenet_c_corruptions())
        notes = {
            "skipped": result.skipped,
            "mode": "generated",
            "save_as": save_as,
            "input_size": self.params.input_size,
            "corruptions": list(names),
        }
        return ProbeOutput(records, outputs_frame(ctx.dataset, result), notes)

    def transform(self, ctx: ProbeContext) -> ImageTransform | None:
        """ImageNet-C's 256/224 resize and crop for every model (``input_size="imagenet-c"``) on datasets the
        model's preprocessing would resize; None (the dataset's own pipeline) otherwise."""
        spec = ctx.dataset.spec
        if self.params.input_size == "model" or spec.resize_policy != "model":
            return None
        if spec.border_crop:  # ObjectNet's frame is cropped first, as for every model
            return BorderCropTransform("model", IMAGENET_C_PREPROCESS, spec.border_crop)
        return ImageTransform("model", IMAGENET_C_PREPROCESS)
