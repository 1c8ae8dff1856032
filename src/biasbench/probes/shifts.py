"""Input shifts a probe applies to its images before measuring, written as the corruption and adversarial
probes name their conditions (``biasbench.store.conditions``: ``CorruptionSet``, ``Attack``):

- ``generated/<corruption>/<severity>``: one ImageNet-C corruption generated on the fly (``biasbench.perturb``),
  stored as the corruption probe stores it by default (8 bits, then a quality-85 JPEG round trip, as the
  released ImageNet-C files), seeded per image;
- ``<attack>/<norm>/eps=<ε>[/steps=<n>][/step=<size>]`` with attack ``pgd``, ``fgsm`` or ``autoattack`` and
  norm ``linf`` or ``l2``: adversarial images against the model under test (``biasbench.attacks``), with the
  adversarial probe's defaults (40 steps of 2/255, random start seeded per image) unless given; ε and the step
  may be fractions (``eps=0.5/255``).

Per-image draws (corruption noise, attack starts) are keyed by the job seed and the image's index in the full
dataset, so an image is shifted exactly as the corruption or adversarial probe shifts it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from biasbench.attacks.gradient import ATTACKS, NORMS, AttackConfig, run_attack
from biasbench.core.errors import BiasbenchError
from biasbench.engine.inference import Perturbation
from biasbench.perturb.corruptions import CORRUPTIONS, corruption_perturbation
from biasbench.probes.corruption import CorruptionParams
from biasbench.store.conditions import Attack, Condition, CorruptionSet, amount, parse_condition

# (model, labels by dataset index, seed) -> an engine perturbation (x in [0,1], dataset indices) -> shifted x
ShiftBuilder = Callable[[torch.nn.Module, torch.Tensor, int], Perturbation]
FORMS = "generated/<corruption>/<severity 1-5> or <attack>/<norm>/eps=<ε>[/steps=<n>][/step=<size>]"


@dataclass(frozen=True)
class InputShift:
    """A parsed shift: its condition (whose text records and manifests carry), whether it needs ImageNet-indexed
    labels (the attacks' cross-entropy), and how to build it for a model."""

    condition: Condition
    needs_labels: bool
    build: ShiftBuilder

    @property
    def text(self) -> str:
        return str(self.condition)


def _generated(text: str, shift: CorruptionSet) -> InputShift:
    if shift.mode != "generated" or shift.corruption not in CORRUPTIONS or shift.severity not in range(1, 6):
        raise BiasbenchError(
            f"shift {text!r}: write generated/<corruption>/<severity 1-5>; corruptions: {', '.join(CORRUPTIONS)}"
        )
    name, severity = shift.corruption, shift.severity
    save_as = CorruptionParams.model_fields["save_as"].default

    def build(model: torch.nn.Module, labels: torch.Tensor, seed: int) -> Perturbation:
        return corruption_perturbation(name, severity, seed, save_as)

    return InputShift(shift, False, build)


def _attack_error(text: str, attack: str) -> BiasbenchError:
    return BiasbenchError(
        f"shift {text!r}: write {attack}/<{'|'.join(NORMS)}>/eps=<ε>[/steps=<n>][/step=<size>], "
        "e.g. pgd/linf/eps=0.5/255"
    )


def _attack(text: str, shift: Attack) -> InputShift:
    if shift.attack not in ATTACKS or shift.norm not in NORMS:
        raise _attack_error(text, shift.attack if shift.attack in ATTACKS else f"<{'|'.join(ATTACKS)}>")
    step = None if shift.step_size is None else amount(shift.step_size)
    values = {"epsilon": shift.epsilon_value, "steps": shift.steps, "step_size": step}
    values = {k: v for k, v in values.items() if v is not None}
    AttackConfig(shift.attack, shift.norm, **values)  # validates now, before any model loads

    def build(model: torch.nn.Module, labels: torch.Tensor, seed: int) -> Perturbation:
        cfg = AttackConfig(shift.attack, shift.norm, **values, seed=seed)

        def perturb(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
            return run_attack(model, x, labels[indices.cpu()].to(x.device), indices, cfg)

        return perturb

    return InputShift(shift, True, build)


SHIFTS: dict[type[Condition], Callable[[str, Condition], InputShift]] = {
    CorruptionSet: _generated,  # type: ignore[dict-item]
    Attack: _attack,  # type: ignore[dict-item]
}


def parse_shift(text: str) -> InputShift | None:
    """The shift ``text`` names (None for ``""``: the images as they are); a clear error for anything else."""
    if not text:
        return None
    condition = parse_condition(text)
    if type(condition) in SHIFTS:
        return SHIFTS[type(condition)](text, condition)
    attack = next((a for a in ATTACKS if text == a or text.startswith(f"{a}/")), None)  # an attack, miswritten
    if attack is not None:
        raise _attack_error(text, attack)
    raise BiasbenchError(
        f"unknown input shift {text!r}: it starts with one of generated, {', '.join(ATTACKS)} (write {FORMS}, e.g. "
        "generated/gaussian_noise/3, pgd/linf/eps=0.5/255)"
    )
