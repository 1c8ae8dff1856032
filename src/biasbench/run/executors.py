"""Executors by name. Each takes the same plan and writes into the same store; ``local`` is the default."""

from __future__ import annotations

from collections.abc import Callable

from biasbench.core.registry import Registry
from biasbench.run.local import run_local
from biasbench.run.ray_executor import run_ray

EXECUTORS: Registry[Callable] = Registry("executor", items={"local": run_local, "ray": run_ray})


def get_executor(name: str) -> Callable:
    """The executor ``name``; unknown names get suggestions."""
    return EXECUTORS[name]
