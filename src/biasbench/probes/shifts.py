"""Input shifts a probe applies to its images before measuring, written as the corruption and adversarial
probes name their conditions:

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
from biasbench.probes.adversarial import parse_amount
from biasbench.probes.corruption import CorruptionParams

# (model, labels by dataset index, seed) -> an engine perturbation (x in [0,1], dataset indices) -> shifted x
ShiftBuilder = Callable[[torch.nn.Module, torch.Tensor, int], Perturbation]


@dataclass(frozen=True)
class InputShift:
    """A parsed shift: its text (the name records and manifests carry), whether it needs ImageNet-indexed
    labels (the attacks' cross-entropy), and how to build it for a model."""

    text: str
    needs_labels: bool
    build: ShiftBuilder


def _generated(text: str, parts: list[str]) -> InputShift:
    if len(parts) != 2 or parts[0] not in CORRUPTIONS or parts[1] not in {"1", "2", "3", "4", "5"}:
        raise BiasbenchError(
            f"shift {text!r}: write generated/<corruption>/<severity 1-5>; corruptions: {', '.join(CORRUPTIONS)}"
        )
    name, severity = parts[0], int(parts[1])
    save_as = CorruptionParams.model_fields["save_as"].default

    def build(model: torch.nn.Module, labels: torch.Tensor, seed: int) -> Perturbation:
        return corruption_perturbation(name, severity, seed, save_as)

    return InputShift(text, False, build)


def _attack(attack: str) -> Callable[[str, list[str]], InputShift]:
    keys = {"eps": "epsilon", "steps": "steps", "step": "step_size"}

    def parse(text: str, parts: list[str]) -> InputShift:
        settings: dict[str, str] = {}
        last = None
        for token in parts[1:]:
            if "=" in token:
                last, _, value = token.partition("=")
                settings[last] = value
            elif last is not None:  # the denominator of a fraction such as eps=0.5/255
                settings[last] += f"/{token}"
        if not parts or parts[0] not in NORMS or "eps" not in settings or set(settings) - set(keys):
            raise BiasbenchError(
                f"shift {text!r}: write {attack}/<{'|'.join(NORMS)}>/eps=<ε>[/steps=<n>][/step=<size>], "
                "e.g. pgd/linf/eps=0.5/255"
            )
        values = {keys[k]: (int(v) if k == "steps" else parse_amount(v)) for k, v in settings.items()}
        AttackConfig(attack, parts[0], **values)  # validates now, before any model loads

        def build(model: torch.nn.Module, labels: torch.Tensor, seed: int) -> Perturbation:
            cfg = AttackConfig(attack, parts[0], **values, seed=seed)

            def perturb(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
                return run_attack(model, x, labels[indices.cpu()].to(x.device), indices, cfg)

            return perturb

        return InputShift(text, True, build)

    return parse


SHIFTS: dict[str, Callable[[str, list[str]], InputShift]] = {
    "generated": _generated,
    **{attack: _attack(attack) for attack in ATTACKS},
}


def parse_shift(text: str) -> InputShift | None:
    """The shift ``text`` names (None for ``""``: the images as they are); a clear error for anything else."""
    if not text:
        return None
    kind, *parts = text.split("/")
    if kind not in SHIFTS:
        raise BiasbenchError(
            f"unknown input shift {text!r}: it starts with one of {', '.join(SHIFTS)} "
            "(generated/gaussian_noise/3, pgd/linf/eps=0.5/255)"
        )
    return SHIFTS[kind](text, parts)
