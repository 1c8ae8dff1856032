"""``timm:`` and ``hf-hub:`` models, and the timm helpers other sources share (import, data config, wrapping)."""

from __future__ import annotations

from pathlib import Path

import torch

from biasbench.core.errors import ModelLoadError, UnknownNameError
from biasbench.core.fingerprint import digest, file_sha256, state_dict_fingerprint
from biasbench.core.preprocessing import Preprocess
from biasbench.core.torchvision_shim import ensure_torchvision_importable
from biasbench.models.sources import ModelSource, ModelSpec, register_source, seeded_init
from biasbench.models.wrapper import Classifier


def import_timm():
    """The ``timm`` package, imported behind the torchvision import shim."""
    ensure_torchvision_importable()
    import timm

    return timm


def check_architecture(name: str) -> None:
    """Refuse a timm architecture (``name`` or ``name.tag``) timm does not know, with the closest names."""
    known = import_timm().list_models()
    if name.split(".")[0] not in known:
        raise UnknownNameError("timm model", name.split(".")[0], known)


def timm_data_config(net: torch.nn.Module | None = None, arch: str | None = None) -> dict | None:
    """timm's resolved evaluation data config (input_size, crop_pct, crop_mode, interpolation, mean, std) of a
    built network, or of an architecture's pretrained weights (``name`` or ``name.tag``) without building it;
    None when timm registers no pretrained config for ``arch``."""
    timm = import_timm()
    if net is not None:
        return timm.data.resolve_model_data_config(net)
    try:
        cfg = timm.models.get_pretrained_cfg(arch)
    except RuntimeError as e:  # an unknown pretrained tag
        raise UnknownNameError("timm pretrained tag", arch, timm.list_pretrained(arch.split(".")[0] + "*")) from e
    if cfg is None:
        return None
    return timm.data.resolve_data_config({}, pretrained_cfg=cfg.to_dict())


def timm_classifier(net: torch.nn.Module, spec: ModelSpec, fingerprint: str) -> Classifier:
    """Wrap a timm network with the mean, std and preprocessing of its resolved data config."""
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
        timm = import_timm()
        pretrained = spec.flag("pretrained", True)
        check_architecture(spec.ref)
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
        return timm_classifier(net, spec, fp)

    def fingerprint(self, spec: ModelSpec) -> str:
        """Random init: the spec and timm's version. Pretrained: the hash of the cached weights file (no model is
        built), else the state dict of the loaded model."""
        if not spec.flag("pretrained", True):
            return digest(["timm", spec.text, import_timm().__version__])
        return self._file_fingerprint(spec) or super().fingerprint(spec)

    def _file_fingerprint(self, spec: ModelSpec) -> str | None:
        path = self.weights_file(spec)
        return digest(["timm-file", spec.text, file_sha256(path)]) if path is not None else None

    def weights_file(self, spec: ModelSpec) -> Path | None:
        """The pretrained weights file in the local Hugging Face or torch hub cache, if it is there."""
        try:
            cfg = import_timm().models.get_pretrained_cfg(spec.ref)
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
        timm = import_timm()
        try:
            net = timm.create_model(f"hf-hub:{spec.ref}", pretrained=True)
        except Exception as e:  # hub errors come in many types; all mean "could not fetch/build"
            raise ModelLoadError(
                f"cannot load {spec.text}: {e}. The repository must be in the local Hugging Face cache when "
                "HF_HUB_OFFLINE=1."
            ) from e
        return timm_classifier(net, spec, state_dict_fingerprint(net))

    def fingerprint(self, spec: ModelSpec) -> str:
        return ModelSource.fingerprint(self, spec)

    def preprocess(self, spec: ModelSpec) -> Preprocess:
        return ModelSource.preprocess(self, spec)  # the config lives in the repository: build the model
