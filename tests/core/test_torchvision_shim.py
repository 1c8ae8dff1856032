"""The torchvision import shim (core/torchvision_shim.py): what it does, in clean interpreters."""

import subprocess
import sys
from pathlib import Path

import torch

from biasbench.core import torchvision_shim

# The shim module loaded by path, so that ``biasbench/__init__`` (which applies the shim) does not run first.
_LOAD_SHIM = f"""
import importlib.util
spec = importlib.util.spec_from_file_location("shim", {str(Path(torchvision_shim.__file__))!r})
shim = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shim)
"""


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_shim_makes_torchvision_and_timm_import_exactly_where_they_cannot_without_it():
    bare = _python("import torchvision")
    shimmed = _python(
        _LOAD_SHIM
        + """
patched = shim.ensure_torchvision_importable()
import timm, torch, torchvision
from torch._subclasses.fake_tensor import FakeTensor, FakeTensorMode
from torch.fx.experimental.symbolic_shapes import ShapeEnv
with FakeTensorMode(shape_env=ShapeEnv()):  # torchvision's own fake (meta) kernel now registers and runs
    kept = torch.ops.torchvision.nms(torch.rand(5, 4), torch.rand(5), 0.5)
print(patched, isinstance(kept, FakeTensor), kept.dim())
print(torch.ops.torchvision.nms.default._schema)
print(torch.ops.torchvision.qnms.default._schema)
"""
    )
    assert shimmed.returncode == 0, shimmed.stderr
    patched, fake, dims = shimmed.stdout.splitlines()[0].split()
    assert (fake, dims) == ("True", "1")
    if patched == "True":  # the compiled extension cannot load: without the shim the import fails, as documented
        assert bare.returncode != 0 and "operator torchvision::nms does not exist" in bare.stderr
        assert shimmed.stdout.splitlines()[1:] == [
            "torchvision::nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
            "torchvision::qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor",
        ]
    else:  # the extension loads (a matching CUDA torch): the shim does nothing and plain import works
        assert patched == "False" and bare.returncode == 0, bare.stderr


def test_shim_is_idempotent():
    assert torchvision_shim.ensure_torchvision_importable() is False  # already applied at import
    torch._C._dispatch_find_schema_or_throw("torchvision::nms", "")


def test_does_nothing_when_extension_loads(monkeypatch):
    monkeypatch.setattr(torchvision_shim, "_schemas_exist", lambda _torch: False)
    monkeypatch.setattr(torchvision_shim, "_library", None)
    monkeypatch.setattr(torchvision_shim, "torchvision_extension_loads", lambda: True)
    assert torchvision_shim.ensure_torchvision_importable() is False
    assert torchvision_shim._library is None
