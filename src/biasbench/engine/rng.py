"""Per-sample random streams: every draw is seeded by (global seed, sample index, condition), never by
global RNG state, so results do not depend on batch size, worker count or device (DESIGN.md principle 4)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import torch


def sample_seed(seed: int, index: int, *condition: object) -> int:
    """A 63-bit seed derived from the global seed, the sample's dataset index and the condition."""
    text = repr((int(seed), int(index), *condition)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") & ((1 << 63) - 1)


def sample_generator(seed: int, index: int, *condition: object, device: str | torch.device = "cpu") -> torch.Generator:
    """A torch.Generator on ``device`` seeded for one (sample, condition)."""
    g = torch.Generator(device=device)
    g.manual_seed(sample_seed(seed, index, *condition))
    return g


def seeded_randn(
    shape: Sequence[int],
    seed: int,
    indices: torch.Tensor | Sequence[int],
    *condition: object,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Standard-normal noise of ``shape`` for each sample in ``indices``, stacked to (N, *shape).

    Sample i's noise depends only on (seed, indices[i], condition). Drawn on the CPU, where torch's
    generator is the same on every machine, then moved, so CPU and GPU runs see identical noise.
    """
    draws = [
        torch.randn(tuple(shape), generator=sample_generator(seed, int(i), *condition), dtype=torch.float32)
        for i in (indices.tolist() if isinstance(indices, torch.Tensor) else indices)
    ]
    if not draws:
        return torch.zeros((0, *shape), device=device, dtype=dtype)
    return torch.stack(draws).to(device=device, dtype=dtype)
