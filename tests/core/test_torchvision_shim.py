import torch

from biasbench.core import torchvision_shim


def test_torchvision_and_timm_import():
    import timm
    import torchvision

    assert torchvision.__version__ and timm.__version__


def test_shim_is_idempotent():
    assert torchvision_shim.ensure_torchvision_importable() is False  # already applied at import
    torch._C._dispatch_find_schema_or_throw("torchvision::nms", "")


def test_does_nothing_when_extension_loads(monkeypatch):
    monkeypatch.setattr(torchvision_shim, "_schemas_exist", lambda _torch: False)
    monkeypatch.setattr(torchvision_shim, "_library", None)
    monkeypatch.setattr(torchvision_shim, "torchvision_extension_loads", lambda: True)
    assert torchvision_shim.ensure_torchvision_importable() is False
    assert torchvision_shim._library is None
