"""Make ``import torchvision`` work next to a CPU-only torch.

The torchvision wheel that matches torch 2.13 is built for CUDA only. Next to the CPU torch wheel its C++
extension cannot load, and importing torchvision fails with "operator torchvision::nms does not exist"
because its Python layer registers fake kernels for ops whose schemas the extension would have defined.
Defining the two schemas ourselves lets models, transforms and timm import; ``torchvision.io`` decoding
still needs the extension (biasbench decodes with Pillow). Where the extension loads (GPU machines) this
does nothing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor",
)
_library = None  # keeps the torch.library handle alive for the life of the process


def torchvision_extension_loads() -> bool:
    """Whether torchvision's compiled extension ``_C`` can be loaded by this torch."""
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True  # nothing to patch: torchvision is absent
    candidates = [p for loc in spec.submodule_search_locations for p in Path(loc).glob("_C*.so")]
    if not candidates:
        return False
    try:
        torch.ops.load_library(str(candidates[0]))
    except (OSError, RuntimeError):
        return False
    return True


def ensure_torchvision_importable() -> bool:
    """Define the torchvision op schemas if its extension cannot load. Returns True if it patched."""
    global _library
    import torch

    if _library is not None or _schemas_exist(torch):
        return False
    if torchvision_extension_loads():
        return False
    _library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        _library.define(schema)
    return True


def _schemas_exist(torch) -> bool:
    try:
        torch._C._dispatch_find_schema_or_throw("torchvision::nms", "")
    except RuntimeError:
        return False
    return True
