"""``spectral``: Gavrikov & Keuper's low-/high-frequency biases (METHODS.md §3).

Top-1 under Fourier low-pass and high-pass filtering at 11 cut-offs, as a ratio of clean top-1; the
low-frequency bias is the mean low-pass ratio over c = 0.1…0.5, the high-frequency bias the same for the
high-pass, and the spectral bias HFB / (LFB + HFB). All 23 conditions run on one decode per batch, and the
forward FFT is shared by the 22 filtered versions of a batch.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import field_validator, model_validator

from biasbench.engine.inference import CLEAN
from biasbench.perturb.spectral import CUTOFFS, FILTERS, FourierFilterBank
from biasbench.probes.accuracy import space_accuracy_records
from biasbench.probes.base import Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.probes.outputs import evaluate_labelled, outputs_frame, record_condition
from biasbench.store.conditions import Filter
from biasbench.store.records import Record

BIAS_CUTOFFS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)


def spectral_bias_records(ratios: dict[tuple[str, float], float], cutoffs=BIAS_CUTOFFS) -> list[Record]:
    """low_freq_bias, high_freq_bias (mean ratio-to-clean over ``cutoffs``), spectral_bias = HFB/(LFB+HFB)."""
    lfb = float(np.mean([ratios[("lowpass", c)] for c in cutoffs]))
    hfb = float(np.mean([ratios[("highpass", c)] for c in cutoffs]))
    total = lfb + hfb
    return [
        Record("low_freq_bias", lfb, len(cutoffs)),
        Record("high_freq_bias", hfb, len(cutoffs)),
        Record("spectral_bias", hfb / total if total else math.nan, len(cutoffs)),
    ]


class SpectralParams(ProbeParams):
    cutoffs: tuple[float, ...] = CUTOFFS
    bias_cutoffs: tuple[float, ...] = BIAS_CUTOFFS  # cut-offs averaged into the scalar biases
    mask: Literal["square", "radial"] = "square"  # square: the study's; radial: elliptical alternative

    @field_validator("cutoffs", "bias_cutoffs")
    @classmethod
    def _in_unit_interval(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if not values or any(not 0.0 <= c <= 1.0 for c in values):
            raise ValueError("cut-offs must be a non-empty list of fractions in [0, 1]")
        return tuple(round(float(c), 10) for c in values)

    @model_validator(mode="after")
    def _bias_subset(self) -> SpectralParams:
        missing = sorted(set(self.bias_cutoffs) - set(self.cutoffs))
        if missing:
            raise ValueError(f"bias_cutoffs {missing} are not among the evaluated cutoffs; add them to cutoffs")
        return self


@register_probe
class Spectral(Probe):
    name = "spectral"
    summary = "low-/high-frequency bias: top-1 under Fourier low/high-pass filters as a ratio of clean top-1"
    citation = "Gavrikov & Keuper, CVPR 2024; Wang et al., CVPR 2020 (band-pass test)"
    Params = SpectralParams
    default_datasets = ("imagenet-sample",)
    version = 2  # v2: the clean top-1 at condition "" (was "clean")

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        p = self.params
        bank = FourierFilterBank(p.mask)
        conditions = {CLEAN: None}
        for kind in FILTERS:
            for c in p.cutoffs:
                conditions[str(Filter(kind, c))] = bank.perturbation(c, kind)
        run = evaluate_labelled(ctx, conditions, desc=f"{ctx.model.name} spectral")
        result, space, samples = run.result, run.space, run.samples

        def top1(condition: str) -> Record:
            topk = result.outputs[condition]["topk"].astype(np.int64)[:, :1]
            return space_accuracy_records(space, topk, samples, record_condition(condition))[0]

        clean = top1(CLEAN)
        records, ratios = [clean], {}
        for kind in FILTERS:
            for c in p.cutoffs:
                rec = top1(str(Filter(kind, c)))
                ratios[(kind, c)] = rec.value / clean.value if clean.value else math.nan
                records += [rec, Record("ratio_to_clean", ratios[(kind, c)], rec.n, rec.condition)]
        records += spectral_bias_records(ratios, p.bias_cutoffs)
        notes = {"skipped": result.skipped, "mask": p.mask}
        return ProbeOutput(records, outputs_frame(ctx.dataset, result), notes)
