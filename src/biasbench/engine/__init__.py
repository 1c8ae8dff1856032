"""Batched inference: devices and precision, conditions, the clean-pass memo, progress."""

from biasbench.engine.inference import Batch, Engine, EngineConfig, EngineResult

__all__ = ["Batch", "Engine", "EngineConfig", "EngineResult"]
