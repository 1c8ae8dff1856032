"""Where datasets live: ``--data-root`` beats ``BIASBENCH_DATA`` beats the user cache directory."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "BIASBENCH_DATA"


def user_cache_dir() -> Path:
    """biasbench's cache directory (``BIASBENCH_CACHE``, else ``$XDG_CACHE_HOME/biasbench``)."""
    if "BIASBENCH_CACHE" in os.environ:
        return Path(os.environ["BIASBENCH_CACHE"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "biasbench"


def resolve_data_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data root in resolution order: explicit argument, ``$BIASBENCH_DATA``, ``<cache>/data``."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR]).expanduser().resolve()
    return user_cache_dir() / "data"
