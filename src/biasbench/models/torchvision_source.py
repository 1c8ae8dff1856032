"""``torchvision:`` models: torchvision.models by name and weights enum, preprocessed as their weights say."""

from __future__ import annotations

from pathlib import Path

import torch

from biasbench.core.errors import ModelLoadError, UnknownNameError
from biasbench.core.fingerprint import state_dict_fingerprint
from biasbench.core.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocess, mean_fill
from biasbench.core.torchvision_shim import ensure_torchvision_importable
from biasbench.models.sources import ModelSource, ModelSpec, register_source, seeded_init
from biasbench.models.wrapper import Classifier


def torchvision_models():
    """``torchvision.models``, imported behind the torchvision import shim."""
    ensure_torchvision_importable()
    import torchvision.models as tvm

    return tvm


@register_source
class TorchvisionSource(ModelSource):
    prefix = "torchvision"
    summary = "torchvision.models by name and weights enum (torchvision:resnet50:IMAGENET1K_V2, or :none)"
    example = "torchvision:resnet50:IMAGENET1K_V1"

    def load(self, spec: ModelSpec) -> Classifier:
        tvm = torchvision_models()

        name, weights = self._weights(spec)
        rng = seeded_init(spec)
        try:
            net = tvm.get_model(name, weights=weights)
        except Exception as e:  # download failures surface as URLError/RuntimeError/OSError
            raise ModelLoadError(
                f"cannot load {spec.text}: {e}. Offline, put the checkpoint into the torch hub cache "
                "($TORCH_HOME/hub/checkpoints) or use file:PATH?arch=NAME."
            ) from e
        finally:
            rng.__exit__(None, None, None)
        preprocess, mean, std = torchvision_preprocess(weights)
        return Classifier(
            net, name=spec.text, mean=mean, std=std, preprocess=preprocess, fingerprint=state_dict_fingerprint(net)
        )

    @staticmethod
    def _weights(spec: ModelSpec):
        """(model name, weights enum member or None) of a spec."""
        tvm = torchvision_models()

        name, _, weights_name = spec.ref.partition(":")
        if name not in tvm.list_models():
            raise UnknownNameError("torchvision model", name, tvm.list_models())
        if not weights_name or weights_name.lower() == "none":
            return name, None
        enum = tvm.get_model_weights(name)
        if weights_name not in enum.__members__:
            raise UnknownNameError(f"{name} weights", weights_name, enum.__members__)
        return name, enum[weights_name]

    def preprocess(self, spec: ModelSpec) -> Preprocess:
        return torchvision_preprocess(self._weights(spec)[1])[0]

    def cached(self, spec: ModelSpec) -> bool | None:
        tvm = torchvision_models()

        name, _, weights_name = spec.ref.partition(":")
        if not weights_name or weights_name.lower() == "none":
            return True
        try:
            url = tvm.get_model_weights(name)[weights_name].url
        except (KeyError, ValueError):
            return False
        return (Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name).is_file()


def torchvision_preprocess(weights) -> tuple[Preprocess, tuple[float, ...], tuple[float, ...]]:
    """(preprocess, mean, std) of torchvision weights, from their own ``weights.transforms()``
    (ImageClassification: resize the shorter side to resize_size, centre-crop crop_size). The resize is
    expressed as timm's crop_pct = crop / resize, whose floor(crop / crop_pct) gives resize_size back for
    every torchvision weight (tests/models/test_preprocess.py checks all of them). No weights: resize 256,
    crop 224, bilinear, ImageNet mean/std, torchvision's classic recipe."""
    if weights is None:
        return Preprocess(), IMAGENET_MEAN, IMAGENET_STD
    t = weights.transforms()
    crop, resize = int(t.crop_size[0]), int(t.resize_size[0])
    preprocess = Preprocess((crop, crop), crop / resize, t.interpolation.value, "center", mean_fill(t.mean))
    if preprocess.resize != (resize, resize):
        raise ModelLoadError(f"{weights}: resize {resize} / crop {crop} is not expressible as a timm crop_pct")
    return preprocess, tuple(t.mean), tuple(t.std)
