"""Adversarial attacks in [0,1] pixel space (normalisation lives inside the model wrapper): PGD (L∞, L2),
FGSM, and an AutoAttack-standard preset through the optional ``torchattacks`` package."""

from biasbench.attacks.gradient import AttackConfig, fgsm, pgd, run_attack

__all__ = ["AttackConfig", "fgsm", "pgd", "run_attack"]
