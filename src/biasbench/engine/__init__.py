"""Batched inference over batch sources: devices and precision, conditions, the clean-pass memo, progress."""

from biasbench.engine.inference import Batch, BatchSource, Engine, EngineConfig, EngineResult

__all__ = ["Batch", "BatchSource", "Engine", "EngineConfig", "EngineResult"]
