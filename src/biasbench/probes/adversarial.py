"""``adversarial``: robust accuracy under PGD / FGSM / AutoAttack in [0,1] pixel space (METHODS.md §5.2).

Default = the CVPR 2024 study's "PGD-40 low": L∞, ε = 0.5/255, 40 steps of absolute size 2/255, random
start (seeded per sample). A sample is robust when it is classified correctly both clean and attacked.
``compat_denominator`` adds the study's value, divided by #batches × batch size (391 × 128 = 50,048), as
``robust_accuracy_compat_denominator``; ``robust_accuracy`` always holds the correct fraction.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal

import numpy as np
import torch
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, field_validator

from biasbench.attacks.gradient import AttackConfig, run_attack
from biasbench.core.errors import HeadSizeError
from biasbench.data.labels.spaces import label_space_for
from biasbench.engine.inference import CLEAN
from biasbench.probes.accuracy import proportion_record
from biasbench.probes.base import DemoRun, Probe, ProbeContext, ProbeOutput, ProbeParams, register_probe
from biasbench.probes.outputs import evaluate_labelled, outputs_frame
from biasbench.store.conditions import Attack, amount
from biasbench.store.metrics import Metric
from biasbench.store.records import Record


def epsilon_label(eps: float, norm: str) -> str:
    """``0.5/255`` for L∞ budgets on the 1/255 grid's fractions, plain ``0.25`` for L2."""
    if norm == "linf":
        return f"{float(Fraction(eps * 255).limit_denominator(1000)):g}/255"
    return f"{eps:g}"


COMPAT_DENOMINATOR = "robust_accuracy_compat_denominator"


def compat_denominator(n: int, batch_size: int) -> int:
    """The study's denominator: number of batches × batch size (50,000 images, batch 128 → 50,048)."""
    return math.ceil(n / batch_size) * batch_size if n else 0


def robust_records(robust: np.ndarray, condition: str, compat_batch_size: int | None = None) -> list[Record]:
    """``robust_accuracy`` (robust hits / images, exact 95% CI) and, with ``compat_batch_size``, the study's
    ``robust_accuracy_compat_denominator`` (robust hits / (#batches x batch size))."""
    records = [proportion_record("robust_accuracy", robust, condition)]
    if compat_batch_size is not None:
        denominator = compat_denominator(len(robust), compat_batch_size)
        records.append(proportion_record(COMPAT_DENOMINATOR, robust, condition, denominator))
    return records


class AdversarialParams(ProbeParams):
    attack: Literal["pgd", "fgsm", "autoattack"] = "pgd"  # autoattack: AutoAttack standard (the attacks extra)
    norm: Literal["linf", "l2"] = "linf"
    epsilon: tuple[NonNegativeFloat, ...] = Field((0.5 / 255,), min_length=1)
    steps: PositiveInt = 40
    step_size: PositiveFloat = 2 / 255
    random_start: bool = True
    success: Literal["final", "any-step"] = "final"  # "final" (foolbox) or "any-step"
    compat_denominator: bool = False
    compat_batch_size: PositiveInt = 128

    @field_validator("epsilon", mode="before")
    @classmethod
    def _epsilons(cls, v):
        items = v if isinstance(v, list | tuple) else str(v).split(",") if isinstance(v, str) else [v]
        return tuple(amount(e) for e in items)

    @field_validator("step_size", mode="before")
    @classmethod
    def _step(cls, v):
        return amount(v)

    def configs(self, seed: int) -> list[AttackConfig]:
        return [
            AttackConfig(self.attack, self.norm, eps, self.steps, self.step_size, self.random_start, self.success, seed)
            for eps in self.epsilon
        ]


ROBUST_ACCURACY = Metric(
    "adversarial",
    "robust_accuracy",
    "Robust accuracy",
    "fraction",
    "more images right under attack",
    role="score",
    condition=None,
    over=Attack,
    noun="robust accuracy",
    headline=True,
)


@register_probe
class Adversarial(Probe):
    name = "adversarial"
    summary = "robust top-1 under PGD (L∞/L2), FGSM or AutoAttack; default the study's PGD-40, ε = 0.5/255"
    citation = "Madry et al., ICLR 2018 (PGD); Croce & Hein, ICML 2020 (AutoAttack); Gavrikov & Keuper, CVPR 2024"
    Params = AdversarialParams
    default_datasets = ("imagenet-val",)
    # v4: the clean top-1 is top1 at "" (was clean_accuracy); v3: random starts from the counter-based
    # generator (core/rng.py); v2: compat record names
    version = 4
    metrics = (
        Metric("adversarial", "top1", "Clean top-1", "fraction", "more images right"),
        ROBUST_ACCURACY,
        Metric(
            "adversarial",
            COMPAT_DENOMINATOR,
            "Robust accuracy, the study's denominator",
            "fraction",
            "more images right under attack",
            condition=None,
            when="compat_denominator",
        ),
    )
    demo = (DemoRun(("imagenet-sample",), 16, {"steps": 10}),)  # a 10-step PGD

    def condition(self, cfg: AttackConfig) -> str:
        return str(Attack(cfg.attack, cfg.norm, epsilon_label(cfg.epsilon, cfg.norm)))

    def run(self, ctx: ProbeContext) -> ProbeOutput:
        space = label_space_for(ctx.dataset, ctx.model.head)
        if not space.labels_are_imagenet:
            raise HeadSizeError(f"adversarial needs ImageNet-indexed labels; {ctx.dataset.name} uses {space.name}")
        labels = torch.tensor([s.label for s in ctx.dataset.samples], dtype=torch.long)
        model = ctx.model

        def attack(cfg: AttackConfig):
            def perturb(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
                return run_attack(model, x, labels[indices.cpu()].to(x.device), indices, cfg)

            return perturb

        configs = {self.condition(cfg): cfg for cfg in self.params.configs(ctx.seed)}
        conditions = {CLEAN: None, **{name: attack(cfg) for name, cfg in configs.items()}}
        run = evaluate_labelled(ctx, conditions, desc=f"{model.name} adversarial", space=space)
        result, samples = run.result, run.samples
        clean = space.hits(result.outputs[CLEAN]["topk"].astype(np.int64), samples, 1)
        records = [proportion_record("top1", clean)]
        compat = self.params.compat_batch_size if self.params.compat_denominator else None
        for name in configs:
            robust = clean & space.hits(result.outputs[name]["topk"].astype(np.int64), samples, 1)
            records += robust_records(robust, name, compat)
        notes = {"skipped": result.skipped, "conditions": list(configs)}
        return ProbeOutput(records, outputs_frame(ctx.dataset, result), notes)
