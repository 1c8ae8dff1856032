"""Content fingerprints: stable hashes of configs, files and tensors that key jobs for exact resume."""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch


def digest(obj: Any, length: int = 16) -> str:
    """Hex digest of a JSON-serialisable object (keys sorted, so dict order does not matter)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 of a file's bytes, cached per (path, size, mtime) so repeated runs do not re-read it."""
    p = Path(path).resolve()
    st = p.stat()
    return _file_sha256(str(p), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=256)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def state_dict_fingerprint(module: torch.nn.Module, length: int = 16) -> str:
    """Hash of a module's parameters and buffers (names, shapes, dtypes, bytes)."""
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")  # 0-d too (BN counters)
    return h.hexdigest()[:length]
