"""Per-sample random draws for the corruptions, seeded by (seed, dataset index, corruption, severity, purpose).

Each purpose (``tag``) gets its own stream, so adding a draw to one step never shifts another step's numbers,
and a sample's corruption does not depend on the batch it is in or on the device (DESIGN.md principle 4).
Normal draws go through :func:`biasbench.core.rng.seeded_randn`; every other draw comes from the per-sample
CPU generator :func:`biasbench.core.rng.sample_generator`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from biasbench.core.rng import sample_generator, seeded_randn


@dataclass(frozen=True)
class Draws:
    """The random source of one corruption call: ``seed``, the batch's dataset ``indices``, ``name``, ``severity``."""

    seed: int
    indices: torch.Tensor
    name: str
    severity: int

    def condition(self, tag: str) -> tuple[str, str, int, str]:
        return ("corruption", self.name, self.severity, tag)

    def normal(self, shape: Sequence[int], tag: str, like: torch.Tensor) -> torch.Tensor:
        """(N, *shape) standard normal draws on ``like``'s device and dtype."""
        return seeded_randn(shape, self.seed, self.indices, *self.condition(tag), device=like.device, dtype=like.dtype)

    def generators(self, tag: str) -> list[torch.Generator]:
        """One CPU generator per sample, for corruptions that draw a sequence of arrays per image."""
        return [sample_generator(self.seed, int(i), *self.condition(tag)) for i in self.indices.tolist()]

    def uniform(self, shape: Sequence[int], tag: str, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
        """(N, *shape) float64 draws, uniform on [low, high), on the CPU."""
        return torch.stack([uniform(g, shape, low, high) for g in self.generators(tag)])

    def integers(
        self, low: int, high: int, shape: Sequence[int], tag: str, dtype: torch.dtype = torch.int64
    ) -> torch.Tensor:
        """(N, *shape) integer draws, uniform on {low, …, high − 1}, on the CPU."""
        gens = self.generators(tag)
        return torch.stack([torch.randint(low, high, tuple(shape), generator=g, dtype=dtype) for g in gens])


def uniform(g: torch.Generator, shape: Sequence[int], low: float, high: float) -> torch.Tensor:
    """float64 draws uniform on [low, high) from ``g`` (NumPy's ``uniform(low, high, shape)``)."""
    return torch.rand(tuple(shape), generator=g, dtype=torch.float64).mul_(high - low).add_(low)
