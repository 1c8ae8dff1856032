"""Probes: one module per measurement. Importing this package registers every built-in probe."""

import importlib
import pkgutil

from biasbench.probes.base import (
    PROBES,
    Probe,
    ProbeContext,
    ProbeOutput,
    ProbeParams,
    get_probe,
    register_probe,
)

for _info in pkgutil.iter_modules(__path__):
    if _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["PROBES", "Probe", "ProbeContext", "ProbeOutput", "ProbeParams", "get_probe", "register_probe"]
