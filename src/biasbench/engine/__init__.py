"""Batched inference: devices and precision, seeded per-sample RNG streams, progress."""

from biasbench.engine.inference import Batch, Engine, EngineConfig, EngineResult
from biasbench.engine.rng import sample_generator, sample_seed, seeded_rand, seeded_randn

__all__ = [
    "Batch",
    "Engine",
    "EngineConfig",
    "EngineResult",
    "sample_generator",
    "sample_seed",
    "seeded_randn",
    "seeded_rand",
]
