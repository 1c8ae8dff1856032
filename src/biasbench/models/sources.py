"""Model sources: parse a model spec (``source:ref?key=value``) and load it as a wrapped Classifier.

A source is a small class registered under its prefix. Add one with ``@register_source``::

    @register_source
    class MySource(ModelSource):
        prefix = "mine"
        summary = "models from my lab's registry"
        example = "mine:resnet50-v3"

        def load(self, spec): ...
        def fingerprint(self, spec): ...
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qsl

import torch

from biasbench.core.errors import BiasbenchError, ModelLoadError, UnknownNameError
from biasbench.core.fingerprint import digest, file_sha256, state_dict_fingerprint
from biasbench.core.preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocess, mean_fill
from biasbench.models.wrapper import Classifier


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec: ``source:ref`` plus ``?key=value&...`` options."""

    source: str
    ref: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in sorted(self.options.items()))
        return f"{self.source}:{self.ref}" + (f"?{query}" if query else "")

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        """Parse ``text``; a bare name is looked up among the named models of the zoo files."""
        text = text.strip()
        if ":" not in text:
            from biasbench.models.zoo import resolve_named_model

            return cls.parse(resolve_named_model(text))
        source, _, rest = text.partition(":")
        ref, _, query = rest.partition("?")
        if source not in MODEL_SOURCES:
            raise UnknownNameError(
                "model source", source, MODEL_SOURCES, hint="A model spec looks like 'timm:resnet50.a1_in1k'."
            )
        if not ref:
            raise BiasbenchError(f"model spec {text!r} names no model; e.g. {MODEL_SOURCES[source].example!r}")
        return cls(source, ref, dict(parse_qsl(query, keep_blank_values=True)))

    def flag(self, key: str, default: bool) -> bool:
        value = self.options.get(key)
        return default if value is None else value.lower() in {"1", "true", "yes", "on"}


class ModelSource(ABC):
    """Where weights come from and how to build a Classifier from them."""

    prefix: ClassVar[str]
    summary: ClassVar[str]
    example: ClassVar[str]

    @abstractmethod
    def load(self, spec: ModelSpec) -> Classifier:
        """Build the wrapped, eval-mode model."""

    def fingerprint(self, spec: ModelSpec) -> str:
        """A cheap content fingerprint (without building the model where possible)."""
        return state_dict_fingerprint(self.load(spec))

    def preprocess(self, spec: ModelSpec) -> Preprocess:
        """The model's preprocessing (it enters job keys); sources override this to avoid building the model."""
        return self.load(spec).preprocess

    def names(self) -> list[str]:
        """Named models this source offers (for listings and suggestions); empty when open-ended."""
        return []

    def cached(self, spec: ModelSpec) -> bool | None:
        """Whether the weights are on disk already (no download needed); None when the source cannot tell."""
        return None


MODEL_SOURCES: dict[str, ModelSource] = {}


def register_source(cls: type[ModelSource]) -> type[ModelSource]:
    """Class decorator adding a source to the registry under its prefix."""
    MODEL_SOURCES[cls.prefix] = cls()
    return cls


def load_model(spec: str | ModelSpec) -> Classifier:
    """Load a model spec as a wrapped Classifier (eval mode, [0,1] input, normalisation inside)."""
    parsed = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    model = MODEL_SOURCES[parsed.source].load(parsed)
    model.source = {"spec": parsed.text, **model.source}
    return model


def model_fingerprint(spec: str | ModelSpec) -> str:
    parsed = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    return MODEL_SOURCES[parsed.source].fingerprint(parsed)


def model_preprocess(spec: str | ModelSpec) -> Preprocess:
    """The preprocessing ``load_model(spec)`` would use, built cheaply where the source can."""
    parsed = spec if isinstance(spec, ModelSpec) else ModelSpec.parse(spec)
    return MODEL_SOURCES[parsed.source].preprocess(parsed)


def seeded_init(spec: ModelSpec):
    """Fork the global RNG with a seed derived from the spec, so randomly initialised models are
    reproducible and building one leaves the caller's RNG state untouched."""
    rng = torch.random.fork_rng(devices=[])
    rng.__enter__()
    torch.manual_seed(int(digest(["init", spec.text, spec.options.get("seed", "0")], 8), 16))
    return rng


def _timm():
    from biasbench.core.torchvision_shim import ensure_torchvision_importable

    ensure_torchvision_importable()
    import timm

    return timm


def timm_data_config(net: torch.nn.Module | None = None, arch: str | None = None) -> dict | None:
    """timm's resolved evaluation data config (input_size, crop_pct, crop_mode, interpolation, mean, std) of a
    built network, or of an architecture's pretrained weights (``name`` or ``name.tag``) without building it;
    None when timm registers no pretrained config for ``arch``."""
    timm = _timm()
    if net is not None:
        return timm.data.resolve_model_data_config(net)
    try:
        cfg = timm.models.get_pretrained_cfg(arch)
    except RuntimeError as e:  # an unknown pretrained tag
        raise UnknownNameError("timm pretrained tag", arch, timm.list_pretrained(arch.split(".")[0] + "*")) from e
    if cfg is None:
        return None
    return timm.data.resolve_data_config({}, pretrained_cfg=cfg.to_dict())


def _timm_classifier(net: torch.nn.Module, spec: ModelSpec, fingerprint: str) -> Classifier:
    cfg = timm_data_config(net)
    return Classifier(
        net,
        name=spec.text,
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        preprocess=Preprocess.from_timm_config(cfg),
        fingerprint=fingerprint,
    )


@register_source
class TimmSource(ModelSource):
    prefix = "timm"
    summary = (
        "any timm model; weights from the local Hugging Face cache "
        "(?pretrained=false for random init, ?num_classes=N for another head)"
    )
    example = "timm:resnet50.a1_in1k"

    def load(self, spec: ModelSpec) -> Classifier:
        timm = _timm()
        pretrained = spec.flag("pretrained", True)
        if spec.ref.split(".")[0] not in timm.list_models():
            raise UnknownNameError("timm model", spec.ref.split(".")[0], timm.list_models())
        rng = seeded_init(spec)
        try:
            kwargs = {"num_classes": int(spec.options["num_classes"])} if "num_classes" in spec.options else {}
            net = timm.create_model(spec.ref, pretrained=pretrained, **kwargs)
        except (OSError, RuntimeError, ValueError) as e:
            raise ModelLoadError(
                f"cannot load pretrained weights for {spec.text}: {e}. With no network, place the weights in "
                "the Hugging Face cache (HF_HOME) or load them with file:PATH?arch=NAME; "
                "add ?pretrained=false for a randomly initialised model."
            ) from e
        finally:
            rng.__exit__(None, None, None)
        if not pretrained:
            fp = digest(["timm", spec.text, timm.__version__])
        else:
            fp = self._file_fingerprint(spec) or state_dict_fingerprint(net)
        return _timm_classifier(net, spec, fp)

    def fingerprint(self, spec: ModelSpec) -> str:
        """Random init: the spec and timm's version. Pretrained: the hash of the cached weights file (no model is
        built), else the state dict of the loaded model."""
        if not spec.flag("pretrained", True):
            return digest(["timm", spec.text, _timm().__version__])
        return self._file_fingerprint(spec) or super().fingerprint(spec)

    def _file_fingerprint(self, spec: ModelSpec) -> str | None:
        path = self.weights_file(spec)
        return digest(["timm-file", spec.text, file_sha256(path)]) if path is not None else None

    def weights_file(self, spec: ModelSpec) -> Path | None:
        """The pretrained weights file in the local Hugging Face or torch hub cache, if it is there."""
        try:
            cfg = _timm().models.get_pretrained_cfg(spec.ref)
        except Exception:  # unknown name or tag
            return None
        if cfg is None:
            return None
        if cfg.hf_hub_id:
            from huggingface_hub import try_to_load_from_cache

            for name in ("model.safetensors", "pytorch_model.bin"):
                found = try_to_load_from_cache(cfg.hf_hub_id, name)
                if isinstance(found, str):
                    return Path(found)
            return None
        path = Path(torch.hub.get_dir()) / "checkpoints" / Path(cfg.url).name if cfg.url else None
        return path if path is not None and path.is_file() else None

    def preprocess(self, spec: ModelSpec) -> Preprocess:
        cfg = timm_data_config(arch=spec.ref)
        return Preprocess.from_timm_config(cfg) if cfg else super().preprocess(spec)

    def cached(self, spec: ModelSpec) -> bool | None:
        if not spec.flag("pretrained", True):
            return True
        return self.weights_file(spec) is not None


@register_source
class HfHubSource(TimmSource):
    prefix = "hf-hub"
    summary = "a timm-format repository on the Hugging Face Hub (read from the local cache when offline)"
    example = "hf-hub:timm/resnet50.a1_in1k"

    def load(self, spec: ModelSpec) -> Classifier:
        timm = _timm()
        try:
            net = timm.create_model(f"hf-hub:{spec.ref}", pretrained=True)
        except Exception as e:  # hub errors come in many types; all mean "could not fetch/build"
            raise ModelLoadError(
                f"cannot load {spec.text}: {e}. The repository must be in the local Hugging Face cache when "
                "HF_HUB_OFFLINE=1."
            ) from e
        return _timm_classifier(net, spec, state_dict_fingerprint(net))

    def fingerprint(self, spec: ModelSpec) -> str:
        return ModelSource.fingerprint(self, spec)

    def preprocess(self, spec: ModelSpec) -> Preprocess:
        return ModelSource.preprocess(self, spec)  # the config lives in the repository: build the model


@register_source
class TorchvisionSource(ModelSource):
    prefix = "torchvision"
    summary = "torchvision.models by name and weights enum (torchvision:resnet50:IMAGENET1K_V2, or :none)"
    example = "torchvision:resnet50:IMAGENET1K_V1"

    def load(self, spec: ModelSpec) -> Classifier:
        _timm()  # applies the torchvision import shim
        import torchvision.models as tvm

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
        _timm()
        import torchvision.models as tvm

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
        _timm()
        import torchvision.models as tvm

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
        arch = spec.options.get("arch")
        if not arch:
            raise BiasbenchError(f"{spec.text}: say which timm architecture the weights belong to, e.g. ?arch=resnet50")
        path = Path(os.path.expanduser(spec.ref))
        state = read_state_dict(path)
        net = _timm().create_model(arch, pretrained=False)
        try:
            net.load_state_dict(state)
        except RuntimeError as e:
            raise ModelLoadError(f"{path} does not fit timm architecture {arch!r}: {e}") from e
        model = _timm_classifier(net, spec, self.fingerprint(spec))
        if "mean" in spec.options or "std" in spec.options:
            model = Classifier(
                net,
                name=spec.text,
                mean=_triple(spec.options.get("mean"), IMAGENET_MEAN),
                std=_triple(spec.options.get("std"), IMAGENET_STD),
                preprocess=model.preprocess,
                fingerprint=model.fingerprint,
            )
        return model

    def preprocess(self, spec: ModelSpec) -> Preprocess:
        cfg = timm_data_config(arch=spec.options["arch"]) if "arch" in spec.options else None
        return Preprocess.from_timm_config(cfg) if cfg else super().preprocess(spec)

    def fingerprint(self, spec: ModelSpec) -> str:
        return digest(["file", file_sha256(Path(os.path.expanduser(spec.ref))), sorted(spec.options.items())])

    def cached(self, spec: ModelSpec) -> bool | None:
        return Path(os.path.expanduser(spec.ref)).is_file()


def _triple(text: str | None, default: tuple[float, float, float]) -> tuple[float, float, float]:
    if text is None:
        return default
    values = tuple(float(v) for v in text.split(","))
    if len(values) == 1:
        values = values * 3
    if len(values) != 3:
        raise BiasbenchError(f"mean/std must be one or three comma-separated numbers, got {text!r}")
    return values  # type: ignore[return-value]
