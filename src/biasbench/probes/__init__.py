"""Probes: one module per measurement, each registering its probe with ``@register_probe``; the probe registry
(``PROBES``) imports them on its first lookup."""

from biasbench.probes.base import (
    PROBES,
    Probe,
    ProbeContext,
    ProbeOutput,
    ProbeParams,
    get_probe,
    register_probe,
)

__all__ = ["PROBES", "Probe", "ProbeContext", "ProbeOutput", "ProbeParams", "get_probe", "register_probe"]
