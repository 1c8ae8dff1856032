"""The structured-feature data model (spec A.1.1).

Latents are a *core* block, whose distribution depends on the label, and a *background* block drawn
independently of it; both are embedded into R^d by orthonormal feature vectors (the rows of ``vh``).
The OOD set keeps the core coordinates and labels of the ID set and redraws only the background from the
test distribution (by default the sign-flipped one), so any ID→OOD gap comes from the background alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from biasbench.core.registry import Registry

# Core samplers: (n_pos, n_neg, d_core, generator) -> z_core with the positives first.
CoreSampler = Callable[[int, int, int, torch.Generator], torch.Tensor]
# Background samplers: (n, d_bg, generator) -> z_bg.
BackgroundSampler = Callable[[int, int, torch.Generator], torch.Tensor]


def _sphere(n: int, d: int, radius: float, g: torch.Generator) -> torch.Tensor:
    z = torch.randn(n, d, generator=g)
    return radius * z / z.norm(dim=1, keepdim=True)


def _radius_core(n_pos: int, n_neg: int, d: int, g: torch.Generator) -> torch.Tensor:
    # Non-linearly separable: the label is the radius (1 for y=+1, 2 for y=-1).
    return torch.cat([_sphere(n_pos, d, 1.0, g), _sphere(n_neg, d, 2.0, g)])


def _sign_core(n_pos: int, n_neg: int, d: int, g: torch.Generator) -> torch.Tensor:
    # Linearly separable (the theory's task): every coordinate has the sign of the label.
    return torch.cat([torch.rand(n_pos, d, generator=g), -torch.rand(n_neg, d, generator=g)])


CORES: Registry[CoreSampler] = Registry("core distribution", items={"radius": _radius_core, "sign": _sign_core})

BACKGROUNDS: Registry[BackgroundSampler] = Registry(
    "background distribution",
    items={
        # Non-negative, mean 0.5: the "always activated" background of the paper (training default).
        "uniform": lambda n, d, g: torch.rand(n, d, generator=g),
        # The OOD shift: the same law with its sign flipped.
        "flipped": lambda n, d, g: -torch.rand(n, d, generator=g),
        # Zero-mean control: symmetric, and its support contains the flipped one.
        "symmetric": lambda n, d, g: 2.0 * torch.rand(n, d, generator=g) - 1.0,
        "zero": lambda n, d, g: torch.zeros(n, d),
    },
)


@dataclass(frozen=True)
class FeatureData:
    """An ID set and its background-shifted OOD twin, with the latents and the embedding behind them."""

    x_id: torch.Tensor  # (n, d)
    x_ood: torch.Tensor  # (n, d): same core and labels, background from the test distribution
    y: torch.Tensor  # (n,) labels in {+1, -1}, positives first
    z_core: torch.Tensor  # (n, d_core)
    z_bg_id: torch.Tensor  # (n, d_bg)
    z_bg_ood: torch.Tensor  # (n, d_bg)
    vh: torch.Tensor  # (d_core + d_bg, d) orthonormal rows: core directions first, then background

    @property
    def d_core(self) -> int:
        return self.z_core.shape[1]


def make_embedding(k: int, d: int, generator: torch.Generator) -> torch.Tensor:
    """``k`` orthonormal feature vectors in R^d: the right singular vectors of a Gaussian k×d matrix."""
    gauss = torch.randn(k, d, generator=generator, dtype=torch.float64)
    _, _, vh = torch.linalg.svd(gauss, full_matrices=False)
    return vh.to(torch.float32)


def make_feature_data(
    *,
    n: int = 1000,
    d_core: int = 32,
    d_bg: int = 32,
    d: int = 256,
    core: str = "radius",
    bg_train: str = "uniform",
    bg_test: str = "flipped",
    generator: torch.Generator,
    vh: torch.Tensor | None = None,
) -> FeatureData:
    """Draw ``n`` labelled points of the structured-feature model (half positive) and their OOD twins.

    ``vh`` reuses an embedding (e.g. to draw a test set for the same task); otherwise a fresh one is
    drawn from ``generator`` first.
    """
    core_sampler = CORES[core]
    train_bg, test_bg = (BACKGROUNDS[b] for b in (bg_train, bg_test))
    if d_core + d_bg > d:
        raise ValueError(f"d_core + d_bg = {d_core + d_bg} orthonormal directions do not fit in d = {d}")
    if vh is None:
        vh = make_embedding(d_core + d_bg, d, generator)
    n_pos = n // 2
    z_core = core_sampler(n_pos, n - n_pos, d_core, generator)
    z_bg_id, z_bg_ood = train_bg(n, d_bg, generator), test_bg(n, d_bg, generator)
    y = torch.cat([torch.ones(n_pos), -torch.ones(n - n_pos)])
    return FeatureData(
        x_id=torch.cat([z_core, z_bg_id], dim=1) @ vh,
        x_ood=torch.cat([z_core, z_bg_ood], dim=1) @ vh,
        y=y,
        z_core=z_core,
        z_bg_id=z_bg_id,
        z_bg_ood=z_bg_ood,
        vh=vh,
    )
