"""Provenance recorded in every job manifest: versions, git revision, device."""

from __future__ import annotations

import platform
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

import torch

from biasbench.core.version import __version__

TRACKED_LIBRARIES = ("torch", "torchvision", "timm", "numpy", "scipy", "pandas", "pillow")


@cache
def git_revision() -> str | None:
    """The git revision of the biasbench source tree when it runs from a checkout, else None."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", str(here.parent)], cwd=here, capture_output=True, text=True, timeout=5
    )
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


@cache
def library_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def environment(device: torch.device) -> dict[str, object]:
    """Where and with what a job ran."""
    info: dict[str, object] = {
        "biasbench": __version__,
        "git_revision": git_revision(),
        "libraries": library_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
