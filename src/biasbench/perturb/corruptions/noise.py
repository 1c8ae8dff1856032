"""ImageNet-C's noise corruptions: Gaussian, shot (Poisson), impulse (salt & pepper) and speckle noise."""

from __future__ import annotations

import torch

from biasbench.perturb.corruptions.draws import Draws
from biasbench.perturb.corruptions.registry import register_corruption


@register_corruption("gaussian_noise", (0.08, 0.12, 0.18, 0.26, 0.38), imagenet_c=1)
def gaussian_noise(x: torch.Tensor, c: float, draws: Draws) -> torch.Tensor:
    """x + N(0, c²) per value."""
    return x + c * draws.normal(x.shape[1:], "noise", x)


@register_corruption("shot_noise", (60, 25, 12, 5, 3), imagenet_c=2)
def shot_noise(x: torch.Tensor, c: float, draws: Draws) -> torch.Tensor:
    """Poisson(c·x) / c per value (drawn on the CPU with each sample's generator)."""
    rates = (x.detach().cpu().double() * c).clamp_min(0)
    counts = [torch.poisson(r, generator=g) for r, g in zip(rates, draws.generators("poisson"), strict=True)]
    return torch.stack(counts).to(x.device, x.dtype) / c


@register_corruption("impulse_noise", (0.03, 0.06, 0.09, 0.17, 0.27), imagenet_c=3)
def impulse_noise(x: torch.Tensor, c: float, draws: Draws) -> torch.Tensor:
    """skimage ``random_noise(mode="s&p", amount=c)``: each value is flipped with probability c, then set to 1
    or 0 with probability ½ each. skimage has drawn exactly these two Bernoulli masks since scikit-image PR
    #2223 (July 2016, first released in 0.13, before ImageNet-C was made), as ``np.random.choice`` masks;
    PR #5257 (2021) draws them as ``random() <= p`` and 0.19 from a ``default_rng``, the same distribution. Only
    skimage ≤ 0.12 drew ⌈c·size/2⌉ salt and pepper positions with replacement (never the last row or column)."""
    u = draws.uniform((2, *x.shape[1:]), "salt_and_pepper").to(x.device)
    hit, salt = u[:, 0] < c, u[:, 1] < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


@register_corruption("speckle_noise", (0.15, 0.2, 0.35, 0.45, 0.6), imagenet_c=16)
def speckle_noise(x: torch.Tensor, c: float, draws: Draws) -> torch.Tensor:
    """x + x·N(0, c²) per value."""
    return x + x * c * draws.normal(x.shape[1:], "noise", x)
