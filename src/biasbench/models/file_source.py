"""``file:PATH?arch=NAME`` models: a local checkpoint (safetensors or torch state dict) for a timm architecture."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from biasbench.core.errors import BiasbenchError, ModelLoadError
from biasbench.core.fingerprint import digest, file_sha256
from biasbench.core.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocess
from biasbench.models.sources import ModelSource, ModelSpec, register_source
from biasbench.models.timm_source import check_architecture, import_timm, timm_classifier, timm_data_config
from biasbench.models.wrapper import Classifier


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file: safetensors, or a torch pickle loaded with ``weights_only=True``.

    A dict wrapping the weights under ``state_dict`` or ``model`` is unwrapped.
    """
    from biasbench.models.checkpoints import read_checkpoint  # also refuses web pages saved as weights

    obj = read_checkpoint(path)
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict):
        raise ModelLoadError(f"checkpoint {path} holds a {type(obj).__name__}, not a state dict")
    return obj


@register_source
class FileSource(ModelSource):
    prefix = "file"
    summary = "a local checkpoint (safetensors or torch state dict) for a timm architecture: file:PATH?arch=NAME"
    example = "file:weights/resnet50.safetensors?arch=resnet50"

    def load(self, spec: ModelSpec) -> Classifier:
        arch = self.architecture(spec)
        path = Path(os.path.expanduser(spec.ref))
        state = read_state_dict(path)
        net = import_timm().create_model(arch, pretrained=False)
        try:
            net.load_state_dict(state)
        except RuntimeError as e:
            raise ModelLoadError(f"{path} does not fit timm architecture {arch!r}: {e}") from e
        model = timm_classifier(net, spec, self.fingerprint(spec))
        if "mean" in spec.options or "std" in spec.options:
            model = Classifier(
                net,
                name=spec.text,
                mean=spec.triple("mean", IMAGENET_MEAN),
                std=spec.triple("std", IMAGENET_STD),
                preprocess=model.preprocess,
                fingerprint=model.fingerprint,
            )
        return model

    @staticmethod
    def architecture(spec: ModelSpec) -> str:
        """The spec's ``?arch=``, refused when missing or unknown to timm."""
        arch = spec.options.get("arch")
        if not arch:
            raise BiasbenchError(f"{spec.text}: say which timm architecture the weights belong to, e.g. ?arch=resnet50")
        check_architecture(arch)
        return arch

    def preprocess(self, spec: ModelSpec) -> Preprocess:
        cfg = timm_data_config(arch=self.architecture(spec))
        return Preprocess.from_timm_config(cfg) if cfg else super().preprocess(spec)

    def fingerprint(self, spec: ModelSpec) -> str:
        path = Path(os.path.expanduser(spec.ref))
        if not path.is_file():
            raise ModelLoadError(f"checkpoint {path} of {spec.text} does not exist; check the path")
        return digest(["file", file_sha256(path), sorted(spec.options.items())])

    def cached(self, spec: ModelSpec) -> bool | None:
        return Path(os.path.expanduser(spec.ref)).is_file()
