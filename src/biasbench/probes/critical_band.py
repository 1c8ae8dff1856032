"""``critical-band``: critical-band masking (Subramanian et al. 2023; Gavrikov & Keuper 2024 variant),
METHODS.md §4.

Protocol B (default; Gavrikov & Keuper): every image under all 29 conditions (noise-free + 4 σ × 7 bands),
1000-way top-1, threshold criterion relative to the noise-free accuracy. Protocol A (Subramanian et al.):
16-category decisions, one condition per image drawn per image from the seed (band uniform over 7, σ uniform
over 5), absolute criterion. Protocol A needs 16-category labels: a ``categories16`` dataset is used as is;
on a 1000-way dataset the images whose class belongs to one of the 16 categories are kept and relabelled
(207 of the 1000 imagenet-sample images), the others are left out.

From the 5×7 accuracy grid: integer thresholds per band, a Gaussian fit, and the channel's bandwidth
(octaves), centre frequency (cycles/image) and peak noise sensitivity; flat or non-converging fits are
flagged (``fit_degenerate`` = 1) with NaN parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from pydantic import Field

from biasbench.core.channel_fit import (
    BANDS,
    NOISE_SDS,
    Reference,
    find_thresholds,
    fit_channel,
    passes,
    reference_accuracy,
)
from biasbench.core.errors import BiasbenchError
from biasbench.core.preprocessing import Preprocess
from biasbench.core.rng import sample_seed
from biasbench.data.datasets import Dataset, Sample
from biasbench.data.labels.categories16 import category_of_class
from biasbench.data.labels.spaces import get_label_space
from biasbench.data.pixels.images import ImageTransform
from biasbench.engine.inference import CLEAN, Perturbation
from biasbench.models.wrapper import Classifier
from biasbench.perturb.critical_band import CriticalBandStimuli, NoiseRms, make_stimuli
from biasbench.probes.accuracy import proportion_record, space_accuracy_records
from biasbench.probes.base import DemoRun, Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.probes.outputs import evaluate_labelled, outputs_frame, record_condition
from biasbench.store.conditions import Band, NoiseCell
from biasbench.store.metrics import Metric
from biasbench.store.records import Record

NOISE_FREE = "noise-free"
ASSIGNED = "assigned"
DEFAULT_REFERENCE = {"A": Reference.absolute, "B": Reference.noise_free}


def assigned_conditions(indices: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Protocol A: per-image (σ, band), drawn from a generator seeded by (seed, image index) only."""
    sigmas, bands = np.empty(len(indices)), np.empty(len(indices), dtype=np.int64)
    for row, index in enumerate(indices):
        rng = np.random.default_rng(sample_seed(seed, int(index), "cbm-assign"))
        bands[row] = rng.integers(len(BANDS))
        sigmas[row] = NOISE_SDS[rng.integers(len(NOISE_SDS))]
    return sigmas, bands


def assigned_stimuli(
    seed: int, quantize: bool, noise_rms: NoiseRms = "level0"
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Engine perturbation giving each image its own protocol-A condition (grouped per condition)."""

    def perturb(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
        sigmas, bands = assigned_conditions(indices.cpu().numpy(), seed)
        out = torch.empty_like(x)
        for sigma, band in sorted(set(zip(sigmas.tolist(), bands.tolist(), strict=True))):
            rows = torch.from_numpy(np.flatnonzero((sigmas == sigma) & (bands == band))).to(x.device)
            out[rows] = make_stimuli(
                x[rows], indices[rows], sigma, band, seed=seed, quantize=quantize, noise_rms=noise_rms
            )
        return out

    return perturb


def relabel_to_categories16(dataset: Dataset) -> Dataset:
    """A 16-category view of ``dataset``: as is for ``categories16`` data; for 1000-way data only the images
    whose class is a member of a category, relabelled with the category index."""
    if dataset.spec.label_space == "categories16":
        return dataset
    if dataset.spec.label_space != "imagenet":
        raise BiasbenchError(
            f"critical-band protocol A needs 16-category labels, but {dataset.name!r} has label space "
            f"{dataset.spec.label_space!r}; use a 1000-way ImageNet dataset or a 16-category one"
        )
    category = category_of_class()
    kept = tuple(
        Sample(s.path, category[s.label], {**s.meta, "imagenet_label": s.label})
        for s in dataset.samples
        if s.label in category
    )
    if not kept:
        raise BiasbenchError(f"no image of {dataset.name!r} belongs to the 16 categories; protocol A cannot run")
    return Dataset(dataset.spec, dataset.folder, kept)


class CriticalBandParams(ProbeParams):
    protocol: Literal["A", "B"] = "B"
    criterion: float = Field(50.0, gt=0.0, le=100.0)  # percent (of the reference accuracy, unless absolute)
    reference: Reference | None = None  # None: absolute (A), noise-free (B)
    adaptive: bool = False  # protocol B: bisection over noise levels per band instead of the full grid
    quantize_gray: bool = True  # 8-bit grayscale as PIL "L" (the studies); False keeps the float luma
    # RMS of the added band noise: "level0" = the reference code's (finest pyramid level alone, ≈ 0.943 σ);
    # "sigma" = the full reconstruction (σ)
    noise_rms: NoiseRms = "level0"


@dataclass
class _Grid:
    """What a run measured: accuracy records, the 5×7 percent grid, the reference accuracy (percent; None
    for the absolute criterion), per-sample frames, and how many conditions were evaluated."""

    accuracy: np.ndarray = field(default_factory=lambda: np.full((len(NOISE_SDS), len(BANDS)), np.nan))
    records: list[Record] = field(default_factory=list)
    frames: list[pd.DataFrame] = field(default_factory=list)
    reference: float | None = None
    evaluated: int = 0
    skipped: list[str] = field(default_factory=list)
    thresholds: np.ndarray | None = None  # set by the adaptive search; otherwise derived from the grid

    def add(self, record: Record, sigma: float | None = None, band: int | None = None) -> None:
        self.records.append(record)
        if sigma is not None:
            self.accuracy[NOISE_SDS.index(sigma), band] = 100.0 * record.value


def bisect_thresholds(
    evaluate: Callable[[list[tuple[float, int]]], dict[tuple[float, int], float]],
    criterion: float = 50.0,
    reference: Callable[[], float | None] = lambda: None,
) -> np.ndarray:
    """The thresholds of ``find_thresholds`` found by bisection over the noise levels of each band (``adaptive``).

    ``evaluate(cells)`` measures a list of (σ, band) cells (percent) in one pass; all bands advance together,
    so the search costs at most 3 passes and 2–3 noisy cells per band instead of 4. ``reference()`` is read
    after each pass (the first pass also measures the reference conditions). When accuracy does not rise
    as the noise level falls, t_f is the smallest passing level and this equals the full-grid scan.
    """
    levels = len(NOISE_SDS)
    # Search t in [lo, hi]; index `levels - 1` (σ = 0, or nothing passed) always ends the search.
    lo, hi = np.zeros(len(BANDS), dtype=np.int64), np.full(len(BANDS), levels - 1, dtype=np.int64)
    while np.any(lo < hi):
        mids = {f: int((lo[f] + hi[f]) // 2) for f in BANDS if lo[f] < hi[f]}
        measured = evaluate([(NOISE_SDS[levels - 1 - j], f) for f, j in mids.items()])
        ref = reference()
        for f, j in mids.items():
            if passes(measured[(NOISE_SDS[levels - 1 - j], f)], criterion, ref):
                hi[f] = j
            else:
                lo[f] = j + 1
    return lo


STIMULUS_SIZE = 224  # the study's stimuli are 224 x 224: 7 octave bands need a pyramid of 7 levels


def stimulus_pipeline(
    dataset: Dataset, model: Classifier, conditions: dict[str, Perturbation | None]
) -> tuple[ImageTransform | None, dict[str, Perturbation | None]]:
    """Stimuli are made at the study's 224 px (resize 256, centre crop 224, as its default transform) and then
    resized to the model's input when that differs, so every model sees the same seven octave bands. Datasets
    fed at native resolution keep their pixels."""
    size = tuple(model.preprocess.input_size)
    if dataset.spec.resize_policy != "model" or size == (STIMULUS_SIZE, STIMULUS_SIZE):
        return None, conditions
    base = Preprocess((STIMULUS_SIZE, STIMULUS_SIZE), 0.875, model.preprocess.interpolation)

    def fit(perturb: Perturbation | None) -> Perturbation:
        def apply(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
            x = x if perturb is None else perturb(x, indices)
            return F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False).clamp_(0, 1)

        return apply

    return ImageTransform("model", base), {name: fit(c) for name, c in conditions.items()}


THRESHOLD = Metric(
    "critical-band",
    "threshold",
    "Noise threshold per octave band",
    "noise index",
    "more noise tolerated",
    condition=None,
    over=Band,
    draw="curve",
    section="critical-band",
)
BANDWIDTH = Metric(
    "critical-band",
    "bandwidth",
    "Critical band: bandwidth",
    "octaves",
    "a wider band of harmful noise",
    role="bias",
    noun="bandwidth",
    draw="curve",
    section="critical-band",
    headline=True,
)
CENTER_FREQUENCY = Metric(
    "critical-band",
    "center_frequency",
    "Critical band: center freq.",
    "cycles/img",
    "the harmful band at higher frequencies",
    role="bias",
    noun="centre frequency",
    draw="curve",
    section="critical-band",
    digits=1,
    headline=True,
)
PEAK_NOISE_SENSITIVITY = Metric(
    "critical-band",
    "peak_noise_sensitivity",
    "Critical band: peak noise sens.",
    "1/SD",
    "more sensitive to noise in the band",
    role="bias",
    noun="peak noise sensitivity",
    draw="curve",
    section="critical-band",
)
FIT_DEGENERATE = Metric("critical-band", "fit_degenerate", "Channel fit failed", "flag", "the fit failed")


@register_probe
class CriticalBand(Probe):
    name = "critical-band"
    summary = "critical-band masking: noise thresholds per octave band, channel bandwidth / centre / peak"
    citation = "Subramanian et al., NeurIPS 2023; Gavrikov & Keuper, CVPR 2024 (protocol B)"
    Params = CriticalBandParams
    # 3: accuracies recorded as top1, the clean one at condition ""; 2: noise RMS of pyramid level 0 (the
    # reference), Philox noise, off-range centres degenerate
    version = 3
    default_datasets = ("imagenet-sample",)
    metrics = (
        Metric(
            "critical-band", "top1", "Top-1 per noise level and band", "fraction", "more images right", condition=None
        ),
        Metric(
            "critical-band",
            "reference_accuracy",
            "Reference accuracy",
            "fraction",
            "a higher criterion",
            condition=None,
            when="a relative reference (noise-free or clean)",
        ),
        THRESHOLD,
        BANDWIDTH,
        CENTER_FREQUENCY,
        PEAK_NOISE_SENSITIVITY,
        FIT_DEGENERATE,
    )
    demo = (DemoRun(("imagenet-sample",), 64, {"adaptive": True}),)
    report_order = 30

    @property
    def reference(self) -> str:
        """The criterion's reference (``Reference``'s value): the parameter, else the protocol's default."""
        return (self.params.reference or DEFAULT_REFERENCE[self.params.protocol]).value

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        p = self.params
        if p.adaptive and p.protocol == "A":
            raise BiasbenchError("adaptive mode needs protocol B (protocol A shows each image one condition)")
        grid = self._run_a(ctx) if p.protocol == "A" else self._run_b(ctx)
        thresholds = grid.thresholds
        if thresholds is None:
            thresholds = find_thresholds(grid.accuracy, p.criterion, grid.reference)
        fit = fit_channel(thresholds)
        records = list(grid.records)
        if grid.reference is not None:
            records.append(Record("reference_accuracy", grid.reference / 100.0, 0, self.reference))
        records += [Record("threshold", float(t), condition=str(Band(f))) for f, t in enumerate(thresholds)]
        records += [
            Record("bandwidth", fit.bandwidth),
            Record("center_frequency", fit.center_frequency),
            Record("peak_noise_sensitivity", fit.peak_noise_sensitivity),
            Record("fit_degenerate", float(fit.degenerate)),
        ]
        notes = {
            "protocol": p.protocol,
            "reference": self.reference,
            "criterion": p.criterion,
            "fit": fit.as_dict(),
            "evaluated_conditions": grid.evaluated,
            "skipped": grid.skipped,
        }
        samples = pd.concat(grid.frames, ignore_index=True) if grid.frames else None
        return ProbeOutput(records, samples, notes)

    # ------------------------------------------------------------------ protocol B (1000-way, every image)
    def _run_b(self, ctx: ProbeContext) -> _Grid:
        p, grid = self.params, _Grid()

        stimuli = CriticalBandStimuli(ctx.seed, p.quantize_gray, p.noise_rms)
        stimulus = stimuli.perturbation

        def evaluate(requested: list[tuple[float, int]]) -> dict[tuple[float, int], float]:
            """Run the requested noisy cells (plus the reference conditions on the first call)."""
            conditions: dict = {}
            if not grid.evaluated:
                conditions[NOISE_FREE] = stimulus(0.0, 0)
                if self.reference == Reference.clean:
                    conditions[CLEAN] = None
            conditions.update({str(NoiseCell(s, f)): stimulus(s, f) for s, f in requested})
            transform, conditions = stimulus_pipeline(ctx.dataset, ctx.model, conditions)
            run = evaluate_labelled(ctx, conditions, desc=f"{ctx.model.name} critical-band", transform=transform)
            result, space, samples = run.result, run.space, run.samples
            grid.frames.append(outputs_frame(ctx.dataset, result))
            grid.evaluated += len(conditions)
            grid.skipped = result.skipped
            top1 = {
                name: space_accuracy_records(
                    space, out["topk"].astype(np.int64)[:, :1], samples, record_condition(name)
                )[0]
                for name, out in result.outputs.items()
            }
            if NOISE_FREE in top1:  # noise-free is band-independent: it fills the whole σ = 0 row
                grid.add(top1[NOISE_FREE])
                grid.accuracy[0, :] = 100.0 * top1[NOISE_FREE].value
                if CLEAN in top1:
                    grid.add(top1[CLEAN])
                grid.reference = reference_accuracy(
                    grid.accuracy,
                    self.reference,
                    noise_free=100.0 * top1[NOISE_FREE].value,
                    clean=100.0 * top1[CLEAN].value if CLEAN in top1 else None,
                )
            for s, f in requested:
                grid.add(top1[str(NoiseCell(s, f))], s, f)
            return {(s, f): float(grid.accuracy[NOISE_SDS.index(s), f]) for s, f in requested}

        if p.adaptive:
            grid.thresholds = bisect_thresholds(evaluate, p.criterion, lambda: grid.reference)
        else:
            evaluate([(s, f) for s in NOISE_SDS[1:] for f in BANDS])
        return grid

    # ------------------------------------------------------------------ protocol A (16-class, one condition)
    def _run_a(self, ctx: ProbeContext) -> _Grid:
        p, grid = self.params, _Grid()
        dataset = relabel_to_categories16(ctx.dataset)
        space = get_label_space("categories16")
        conditions = {ASSIGNED: assigned_stimuli(ctx.seed, p.quantize_gray, p.noise_rms)}
        if self.reference == Reference.clean:
            conditions[CLEAN] = None
        transform, conditions = stimulus_pipeline(dataset, ctx.model, conditions)
        desc = f"{ctx.model.name} critical-band A"
        result = evaluate_labelled(ctx, conditions, desc, transform, dataset=dataset, space=space).result
        grid.skipped, grid.evaluated = result.skipped, len(conditions)
        labels = np.array([dataset.samples[i].label for i in result.indices], dtype=np.int64)
        sigmas, bands = assigned_conditions(result.indices, ctx.seed)
        correct = result.outputs[ASSIGNED]["topk"][:, 0].astype(np.int64) == labels
        for s in NOISE_SDS:
            for f in BANDS:
                cell = (sigmas == s) & (bands == f)
                grid.add(proportion_record("top1", correct[cell], str(NoiseCell(s, f))), s, f)
        free = proportion_record("top1", correct[sigmas == 0], NOISE_FREE)
        grid.add(free)
        clean = None
        if CLEAN in result.outputs:
            rec = proportion_record("top1", result.outputs[CLEAN]["topk"][:, 0].astype(np.int64) == labels, "")
            grid.add(rec)
            clean = 100.0 * rec.value
        grid.reference = reference_accuracy(grid.accuracy, self.reference, clean=clean, noise_free=100.0 * free.value)
        grid.frames.append(outputs_frame(dataset, result, sigma=sigmas, band=bands))
        return grid
