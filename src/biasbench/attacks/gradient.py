"""Gradient attacks on [0,1] inputs: PGD (L∞ / L2, absolute step size, optional random start seeded per
sample) and FGSM. Gradients are taken w.r.t. the [0,1] image; the model normalises internally.

Defaults are the CVPR 2024 study's (METHODS.md §5.2: foolbox ``LinfPGD``, ε = 0.5/255, 40 steps,
step 2/255, random start, untargeted cross-entropy, bounds [0,1]).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from biasbench.core.errors import BiasbenchError
from biasbench.core.reductions import row_sum
from biasbench.core.rng import seeded_rand, seeded_randn

NORMS = ("linf", "l2")


@dataclass(frozen=True)
class AttackConfig:
    """One attack setting. ``success="final"`` judges the last iterate (foolbox); ``"any-step"`` stops
    updating a sample once it is misclassified, so robust accuracy cannot grow with more steps."""

    attack: str = "pgd"  # "pgd" | "fgsm" | "autoattack"
    norm: str = "linf"
    epsilon: float = 0.5 / 255
    steps: int = 40
    step_size: float = 2 / 255
    random_start: bool = True
    success: str = "final"
    seed: int = 0

    def __post_init__(self):
        if self.norm not in NORMS:
            raise BiasbenchError(f"attack norm must be one of {NORMS}, not {self.norm!r}")
        if self.success not in ("final", "any-step"):
            raise BiasbenchError(f"attack success must be 'final' or 'any-step', not {self.success!r}")
        if self.epsilon < 0 or self.steps < 0 or self.step_size < 0:
            raise BiasbenchError("epsilon, steps and step size must be non-negative")


def _flat_norm(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, *([1] * (t.dim() - 1)))


def _project(delta: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    if norm == "linf":
        return delta.clamp(-eps, eps)
    return delta * torch.clamp(eps / _flat_norm(delta), max=1.0)


def _step(grad: torch.Tensor, size: float, norm: str) -> torch.Tensor:
    return size * (grad.sign() if norm == "linf" else grad / _flat_norm(grad))


def random_start(x: torch.Tensor, indices: torch.Tensor, eps: float, norm: str, seed: int) -> torch.Tensor:
    """A start uniform in the ε-ball around each image, drawn on ``x``'s device from that sample's own
    counter-based stream (the unit draw is scaled by ε, so starts for different ε lie on the same rays)."""
    shape, d = tuple(x.shape[1:]), math.prod(x.shape[1:])
    draw = dict(device=x.device, dtype=torch.float64)
    if norm == "linf":
        delta = seeded_rand(shape, seed, indices, "attack-start", norm, **draw) * 2 - 1
    else:
        direction = seeded_randn(shape, seed, indices, "attack-start", norm, **draw)
        length = row_sum(direction.flatten(1).square()).sqrt().clamp_min(1e-12)
        radius = seeded_rand((), seed, indices, "attack-start-radius", norm, **draw) ** (1.0 / d)
        delta = direction * (radius / length).view(-1, *([1] * len(shape)))
    return (eps * delta).to(x.dtype)


def _loss_grad(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the summed cross-entropy w.r.t. ``x``, and whether each sample is misclassified."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        loss = F.cross_entropy(logits.float(), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    return grad, logits.argmax(1) != y


def pgd(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, indices: torch.Tensor, cfg: AttackConfig
) -> torch.Tensor:
    """Projected gradient descent (ascent on the loss) within the ε-ball and the [0,1] box."""
    if cfg.epsilon == 0:
        return x.clone()
    x0 = x.detach()
    delta = random_start(x0, indices, cfg.epsilon, cfg.norm, cfg.seed) if cfg.random_start else torch.zeros_like(x0)
    adv = (x0 + delta).clamp(0, 1)
    active = torch.ones(len(x0), dtype=torch.bool, device=x0.device)
    for _ in range(cfg.steps):
        grad, fooled = _loss_grad(model, adv, y)
        if cfg.success == "any-step":
            active &= ~fooled  # freeze the first misclassifying iterate
            if not active.any():
                break
        moved = adv + _step(grad, cfg.step_size, cfg.norm)
        moved = (x0 + _project(moved - x0, cfg.epsilon, cfg.norm)).clamp(0, 1)
        adv = torch.where(active.view(-1, 1, 1, 1), moved, adv).detach()
    return adv


def fgsm(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, indices: torch.Tensor, cfg: AttackConfig
) -> torch.Tensor:
    """Fast gradient (sign) method: one step of size ε (L∞ sign step, or L2-normalised gradient)."""
    if cfg.epsilon == 0:
        return x.clone()
    grad, _ = _loss_grad(model, x, y)
    return (x.detach() + _step(grad, cfg.epsilon, cfg.norm)).clamp(0, 1)


def autoattack(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, indices: torch.Tensor, cfg: AttackConfig
) -> torch.Tensor:
    """AutoAttack "standard" through torchattacks, configured like the original (Croce & Hein 2020):
    APGD-CE and APGD-T with 100 iterations, FAB-T, 9 target classes (``n_classes=10``), Square with 5,000
    queries, one restart each, fixed seed. torchattacks' own ``AutoAttack`` class uses 10 iterations."""
    try:
        import torchattacks
    except ImportError as e:
        raise BiasbenchError(
            "the autoattack preset needs torchattacks: pip install --no-deps torchattacks==3.5.1 (its requests pin "
            "conflicts with other packages; `make venv` installs it this way)"
        ) from e
    if cfg.epsilon == 0:
        return x.clone()
    norm = {"linf": "Linf", "l2": "L2"}[cfg.norm]
    common = {"norm": norm, "eps": cfg.epsilon, "seed": cfg.seed, "n_restarts": 1}
    attack = torchattacks.MultiAttack(
        [
            torchattacks.APGD(model, steps=100, loss="ce", **common),
            torchattacks.APGDT(model, steps=100, n_classes=10, **common),
            torchattacks.FAB(model, steps=100, multi_targeted=True, n_classes=10, **common),
            torchattacks.Square(model, n_queries=5000, p_init=0.8, **common),
        ]
    )
    with torch.enable_grad():
        return attack(x.detach(), y).detach()


ATTACKS = {"pgd": pgd, "fgsm": fgsm, "autoattack": autoattack}


def run_attack(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, indices: torch.Tensor, cfg: AttackConfig
) -> torch.Tensor:
    """Adversarial images for ``x`` (labels ``y``, dataset ``indices`` for the per-sample seeds)."""
    if cfg.attack not in ATTACKS:
        raise BiasbenchError(f"unknown attack {cfg.attack!r}; known: {', '.join(ATTACKS)}")
    was_training = model.training
    model.eval()
    try:
        return ATTACKS[cfg.attack](model, x, y, indices, cfg)
    finally:
        model.train(was_training)
