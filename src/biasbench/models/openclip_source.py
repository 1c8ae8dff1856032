"""``openclip:`` models: OpenCLIP / OpenAI CLIP image-text models (open-clip-torch) as zero-shot classifiers.

``openclip:ARCH/PRETRAINED`` names an open_clip architecture and pretrained tag (``openclip:ViT-B-32/openai``,
``openclip:EVA01-g-14/laion400m_s11b_b41k``); ``openclip:ARCH?pretrained=none`` builds it with random weights
(``&seed=N`` picks another draw). ``?head=`` chooses the zero-shot head (``imagenet``: the 1000 ImageNet
classes, default; ``categories16``: the 16 cue-conflict category names) and ``?templates=`` its prompts
(``openai80`` default, ``simple18``, ``name``, ``photo``, or literal templates), see
``biasbench.models.zero_shot``.

Weights are read from the local Hugging Face cache, where open_clip's hub copy of every pretrained tag lives
(``open_clip_model.safetensors`` preferred, else ``open_clip_pytorch_model.bin`` read with
``weights_only=True``); with ``HF_HUB_OFFLINE=1`` a missing file is an error that says where to put it.
Tags trained with QuickGELU (all OpenAI weights) are built with it, as OpenAI's own loader did; open_clip
3.x would otherwise only warn. Preprocessing is open_clip's evaluation transform for the tag (resize mode,
interpolation, size, mean/std), expressed as a ``Preprocess`` whose pixels equal it exactly.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from biasbench.core.errors import BiasbenchError, ModelLoadError, UnknownNameError
from biasbench.core.fingerprint import digest, file_sha256
from biasbench.core.preprocessing import Preprocess
from biasbench.models.sources import ModelSource, ModelSpec, register_source, seeded_init
from biasbench.models.wrapper import Classifier
from biasbench.models.zero_shot import (
    HeadChoice,
    ZeroShotNet,
    cached_class_embeddings,
    import_open_clip,
    prompt_ensemble,
    to_pair,
)

OPTIONS = ("pretrained", "head", "templates", "seed")
RANDOM = "none"
# open_clip resize_mode -> the timm crop mode whose pixels are the same at crop_pct 1.0 (tests/models/
# test_openclip_preprocess.py): shortest side + centre crop, squash, longest side + padded centre crop.
CROP_MODES = {"shortest": "center", "squash": "squash", "longest": "border"}


@dataclass(frozen=True)
class OpenClipRef:
    """A parsed ``openclip:`` spec: architecture, pretrained tag (None for random weights) and the head."""

    arch: str
    tag: str | None
    choice: HeadChoice
    seed: str = "0"

    @classmethod
    def parse(cls, spec: ModelSpec) -> OpenClipRef:
        """Validate the spec against open_clip's registries (no weights are read)."""
        oc = import_open_clip()
        unknown = sorted(set(spec.options) - set(OPTIONS))
        if unknown:
            raise BiasbenchError(f"{spec.text}: unknown option(s) {unknown}; openclip: takes {', '.join(OPTIONS)}")
        arch, _, tag = spec.ref.partition("/")
        if arch not in oc.list_models():
            raise UnknownNameError("open_clip architecture", arch, oc.list_models())
        random = spec.options.get("pretrained", "").lower() == RANDOM
        tags = oc.list_pretrained_tags_by_model(arch)
        if random and tag:
            raise BiasbenchError(f"{spec.text} names weights ({tag}) and ?pretrained=none; drop one")
        if not random and not tag:
            raise BiasbenchError(
                f"{spec.text} names no weights: write openclip:{arch}/TAG (tags: {', '.join(tags) or 'none'}) "
                f"or openclip:{arch}?pretrained=none for random weights"
            )
        if tag and tag not in tags:
            raise UnknownNameError("pretrained tag", tag, tags, hint=f"(open_clip's tags of {arch})")
        choice = HeadChoice(spec.options.get("head", "imagenet"), spec.options.get("templates", "openai80"))
        return cls(arch, tag or None, choice, spec.options.get("seed", "0"))

    @property
    def tag_config(self) -> dict[str, Any]:
        """open_clip's pretrained config of the tag (hub location, preprocessing, quick_gelu); {} if random."""
        return import_open_clip().get_pretrained_cfg(self.arch, self.tag) if self.tag else {}

    @property
    def quick_gelu(self) -> bool:
        return bool(self.tag_config.get("quick_gelu", False))

    @property
    def hub_files(self) -> tuple[str, tuple[str, ...]]:
        """(Hugging Face repository, candidate file names, safetensors first) of the tag, as open_clip reads it."""
        from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

        repo, _, filename = self.tag_config.get("hf_hub", "").rpartition("/")
        if not repo:
            raise ModelLoadError(f"open_clip lists no Hugging Face copy of {self.arch}/{self.tag}")
        if not filename or filename == HF_WEIGHTS_NAME:
            return repo, (HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME)
        stem = filename.rsplit(".", 1)[0]
        return repo, (f"{stem}.safetensors", filename) if filename.endswith((".bin", ".pth")) else (filename,)


def open_clip_preprocess_config(ref: OpenClipRef) -> dict[str, Any]:
    """open_clip's evaluation preprocessing of the model (its ``PreprocessCfg`` fields): the defaults, the
    tag's own settings over them, the size of the image tower."""
    oc = import_open_clip()
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    cfg = merge_preprocess_dict(asdict(PreprocessCfg()), ref.tag_config)
    cfg["size"] = to_pair(oc.get_model_config(ref.arch)["vision_cfg"].get("image_size", PreprocessCfg.size))
    return cfg


def preprocess_from_open_clip(cfg: dict[str, Any]) -> Preprocess:
    """The ``Preprocess`` whose pixels equal open_clip's ``image_transform_v2(cfg, is_train=False)`` before
    ToTensor/Normalize: crop_pct 1.0 and the crop mode of ``CROP_MODES``. open_clip treats every
    interpolation but ``bilinear`` as bicubic, and builds its non-square ``shortest`` resize without passing
    the interpolation (its ``ResizeKeepRatio`` default, bicubic)."""
    h, w = cfg["size"]
    mode = cfg["resize_mode"]
    if mode not in CROP_MODES:
        raise ModelLoadError(f"open_clip resize_mode {mode!r} is not one of {', '.join(CROP_MODES)}")
    bilinear = cfg["interpolation"] == "bilinear" and not (mode == "shortest" and h != w)
    fill = int(cfg.get("fill_color") or 0)
    return Preprocess((h, w), 1.0, "bilinear" if bilinear else "bicubic", CROP_MODES[mode], (fill, fill, fill))


def classifier_fingerprint(weights_fingerprint: str, choice: HeadChoice) -> str:
    """The zero-shot classifier's fingerprint: its weights', its head and its templates."""
    return digest([weights_fingerprint, choice.head, list(choice.templates)])


def fresh_visual(arch: str, quick_gelu: bool) -> nn.Module:
    """A freshly initialised image tower of ``arch`` (open_clip's own initialisation)."""
    return import_open_clip().create_model(arch, pretrained=None, force_quick_gelu=quick_gelu).visual


@register_source
class OpenClipSource(ModelSource):
    prefix = "openclip"
    summary = (
        "OpenCLIP / OpenAI CLIP as a zero-shot classifier (open-clip-torch: the clip extra); weights from the "
        "local Hugging Face cache; ?head=imagenet|categories16, ?templates=openai80|simple18|name|photo, "
        "?pretrained=none for random weights"
    )
    example = "openclip:ViT-B-32/openai"

    def names(self) -> list[str]:
        return [f"{arch}/{tag}" for arch, tag in import_open_clip().list_pretrained()]

    def weights_file(self, ref: OpenClipRef) -> Path | None:
        """The tag's weights in the local Hugging Face cache, if they are there."""
        from huggingface_hub import try_to_load_from_cache

        repo, names = ref.hub_files
        for name in names:
            found = try_to_load_from_cache(repo, name)
            if isinstance(found, str):
                return Path(found)
        return None

    def weights(self, ref: OpenClipRef) -> Path:
        """The tag's weights file: from the cache, else downloaded into it unless ``HF_HUB_OFFLINE`` is set."""
        from huggingface_hub import constants, is_offline_mode

        found = self.weights_file(ref)
        if found is not None:
            return found
        repo, names = ref.hub_files
        if is_offline_mode():
            raise ModelLoadError(
                f"the weights of openclip:{ref.arch}/{ref.tag} are not in the local Hugging Face cache "
                f"({constants.HF_HUB_CACHE}) and HF_HUB_OFFLINE=1 forbids downloading them. Place them there: "
                f"on a machine with network run `hf download {repo} {names[-1]}` (or `huggingface-cli download`) "
                f"and copy its models--{repo.replace('/', '--')} folder into {constants.HF_HUB_CACHE} (HF_HOME or "
                "HF_HUB_CACHE move the cache); or unset HF_HUB_OFFLINE once. "
                f"openclip:{ref.arch}?pretrained=none builds the model with random weights."
            )
        from open_clip.pretrained import download_pretrained_from_hf

        try:
            return Path(download_pretrained_from_hf(repo, filename=names[-1]))
        except (OSError, FileNotFoundError, RuntimeError) as e:
            raise ModelLoadError(f"cannot download the weights of openclip:{ref.arch}/{ref.tag}: {e}") from e

    def weights_fingerprint(self, ref: OpenClipRef) -> str:
        """Random weights: the architecture, seed and open_clip's version; pretrained: the file's sha256."""
        if ref.tag is None:
            return digest(["openclip", ref.arch, RANDOM, ref.seed, import_open_clip().__version__])
        return digest(["openclip-file", ref.arch, ref.tag, ref.quick_gelu, file_sha256(self.weights(ref))])

    def fingerprint(self, spec: ModelSpec) -> str:
        ref = OpenClipRef.parse(spec)
        return classifier_fingerprint(self.weights_fingerprint(ref), ref.choice)

    def preprocess(self, spec: ModelSpec) -> Preprocess:
        return preprocess_from_open_clip(open_clip_preprocess_config(OpenClipRef.parse(spec)))

    def cached(self, spec: ModelSpec) -> bool | None:
        ref = OpenClipRef.parse(spec)
        return ref.tag is None or self.weights_file(ref) is not None

    def load(self, spec: ModelSpec) -> Classifier:
        ref = OpenClipRef.parse(spec)
        oc = import_open_clip()
        path = None if ref.tag is None else self.weights(ref)
        # random weights: seeded by the architecture and seed only, so every head of it shares the towers
        rng = seeded_init(ModelSpec(spec.source, spec.ref, {"pretrained": RANDOM, "seed": ref.seed}))
        try:
            clip = oc.create_model(ref.arch, pretrained=str(path) if path else None, force_quick_gelu=ref.quick_gelu)
        except (OSError, RuntimeError, ValueError, KeyError) as e:
            raise ModelLoadError(f"cannot build {spec.text} from {path or 'random weights'}: {e}") from e
        finally:
            rng.__exit__(None, None, None)
        clip.eval()
        weights_fp = self.weights_fingerprint(ref)
        tokenize = oc.get_tokenizer(ref.arch)
        device = "cuda" if torch.cuda.is_available() else "cpu"  # 80,000 ImageNet prompts want a GPU

        def compute():
            clip.to(device)
            try:
                return prompt_ensemble(clip.encode_text, tokenize, ref.choice.classnames, ref.choice.templates, device)
            finally:
                clip.cpu()

        embeddings, text_key = cached_class_embeddings(weights_fp, ref.choice, compute)
        logit_scale = float(clip.logit_scale.detach().exp())
        rebuild = functools.partial(fresh_visual, ref.arch, ref.quick_gelu)
        net = ZeroShotNet(clip.visual, embeddings, logit_scale, rebuild)
        cfg = open_clip_preprocess_config(ref)
        return Classifier(
            net,
            name=spec.text,
            mean=tuple(cfg["mean"]),
            std=tuple(cfg["std"]),
            preprocess=preprocess_from_open_clip(cfg),
            fingerprint=classifier_fingerprint(weights_fp, ref.choice),
            head=ref.choice.head,
            source={
                "open_clip": oc.__version__,
                "arch": ref.arch,
                "pretrained": ref.tag or RANDOM,
                "weights": str(path) if path else None,
                "quick_gelu": ref.quick_gelu,
                "templates": ref.choice.templates_option,
                "n_templates": len(ref.choice.templates),
                "logit_scale": logit_scale,
                "text_cache": text_key,
            },
        )
