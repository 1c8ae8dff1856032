"""Zero-shot heads: a CLIP-style image tower becomes a classifier over a label space's class names.

The head is CLIP's prompt ensemble (Radford et al., ICML 2021; the zero-shot evaluation of Gavrikov et al.,
ICLR 2025, ``vlm_shapebias/code/eval_clip.py``): every class name is written into every template, the text
tower embeds each prompt, each embedding is L2-normalised, the class embedding is their mean, L2-normalised
again. An image's logits are ``logit_scale · normalise(image embedding) · class_embeddingsᵀ`` with the
model's own (exponentiated) logit scale; a SigLIP-style logit bias is left out: it is one constant for every
class, so soft-max and arg-max do not change.

Heads (``HEADS``) and template sets (``TEMPLATE_SETS``) are registries; the ImageNet class names and CLIP's
templates are open_clip's own lists (``open_clip.zero_shot_metadata``). Class embeddings are computed once
and kept as safetensors under ``<cache>/zero-shot/`` (``BIASBENCH_CACHE`` moves it), keyed by the weights'
fingerprint, the class names and the templates.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from biasbench.core.categories import CATEGORIES16
from biasbench.core.errors import BiasbenchError, ModelLoadError, UnknownNameError
from biasbench.core.fingerprint import digest
from biasbench.core.paths import user_cache_dir
from biasbench.core.registry import Registry
from biasbench.core.torchvision_shim import ensure_torchvision_importable
from biasbench.models.layers import layer_stages, register_untrained_builder
from biasbench.models.wrapper import Classifier

PROMPTS_PER_BATCH = 1024  # text-tower batch; the result does not depend on it beyond float rounding


def import_open_clip():
    """The ``open_clip`` package (open-clip-torch), imported behind the torchvision shim, with install advice."""
    ensure_torchvision_importable()
    try:
        import open_clip
    except ImportError as e:
        raise ModelLoadError(
            "openclip: models need the open-clip-torch package; install it with `pip install 'biasbench[clip]'`"
        ) from e
    return open_clip


def _open_clip_templates(name: str) -> Callable[[], tuple[str, ...]]:
    # open_clip keeps its templates as one-argument callables; writing "{}" into them gives format strings.
    return lambda: tuple(t("{}") for t in getattr(import_open_clip().zero_shot_metadata, name))


TEMPLATE_SETS: Registry[Callable[[], tuple[str, ...]]] = Registry(
    "template set",
    group="biasbench.model_sources",
    items={
        "openai80": _open_clip_templates("OPENAI_IMAGENET_TEMPLATES"),  # CLIP's 80 ImageNet prompts (study: None)
        "simple18": _open_clip_templates("SIMPLE_IMAGENET_TEMPLATES"),  # open_clip's 18-prompt subset
        "name": lambda: ("{}",),  # the bare class name (study: CLS)
        "photo": lambda: ("a photo of a {}.",),  # (study: "a photo of a CLS.")
    },
)
TEMPLATE_SEPARATOR = "|"

# Head name -> (class names in the label space's column order). "imagenet" gives the 1000 ImageNet-1k logits
# every ImageNet label space reads its columns from; "categories16" scores model-vs-human's 16 categories
# directly (the label space of the same name), as the 2025 study's CLIP evaluation does.
HEADS: Registry[Callable[[], tuple[str, ...]]] = Registry(
    "zero-shot head",
    group="biasbench.model_sources",
    items={
        "imagenet": lambda: tuple(import_open_clip().zero_shot_metadata.IMAGENET_CLASSNAMES),
        "categories16": lambda: CATEGORIES16,
    },
)


def resolve_templates(option: str) -> tuple[str, ...]:
    """The templates of a ``templates=`` option: a registered set (``openai80``, ``simple18``, ``name``,
    ``photo``), or literal templates that each hold one ``{}`` for the class name, separated by ``|`` (e.g.
    ``a sketch of a {}.|a painting of a {}.``)."""
    if option in TEMPLATE_SETS:
        return TEMPLATE_SETS[option]()
    literal = tuple(t for t in option.split(TEMPLATE_SEPARATOR) if t)
    if not literal or not all(t.count("{}") == t.count("{") == t.count("}") == 1 for t in literal):
        raise UnknownNameError(
            "template set",
            option,
            TEMPLATE_SETS,
            hint="Or give the templates themselves, each with one '{}' for the class name, separated by '|'.",
        )
    return literal


@dataclass(frozen=True)
class HeadChoice:
    """A validated zero-shot head: the head's name, its ``templates=`` option and the templates it resolves
    to (format strings with ``{}``)."""

    head: str
    templates_option: str
    templates: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise UnknownNameError("zero-shot head", self.head, HEADS, hint="e.g. ?head=imagenet")
        object.__setattr__(self, "templates", resolve_templates(self.templates_option))

    @property
    def classnames(self) -> tuple[str, ...]:
        """The class names, in the order of the label space's columns."""
        return HEADS[self.head]()


def prompt_ensemble(
    encode_text: Callable[[torch.Tensor], torch.Tensor],
    tokenize: Callable[[list[str]], torch.Tensor],
    classnames: Sequence[str],
    templates: Sequence[str],
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """(classes, dim) float32 class embeddings: per class, the mean of its L2-normalised prompt embeddings
    (every template with the class name written in), L2-normalised."""
    prompts = [t.format(c) for c in classnames for t in templates]
    chunks = []
    with torch.no_grad(), tqdm(total=len(prompts), desc="zero-shot head: prompts", unit="prompt", disable=None) as bar:
        for start in range(0, len(prompts), PROMPTS_PER_BATCH):
            batch = prompts[start : start + PROMPTS_PER_BATCH]
            chunks.append(F.normalize(encode_text(tokenize(batch).to(device)).float(), dim=-1).cpu())
            bar.update(len(batch))
    per_prompt = torch.cat(chunks).view(len(classnames), len(templates), -1)
    return F.normalize(per_prompt.mean(dim=1), dim=-1)


def text_cache_path(key: str) -> Path:
    """Where the class embeddings of ``key`` are kept."""
    return user_cache_dir() / "zero-shot" / f"{key}.safetensors"


def cached_class_embeddings(
    weights_fingerprint: str, choice: HeadChoice, compute: Callable[[], torch.Tensor]
) -> tuple[torch.Tensor, str]:
    """The class embeddings of ``choice`` for the weights ``weights_fingerprint`` and their cache key: read
    from the cache, else ``compute()``-d once and written there (atomically)."""
    from safetensors.torch import load_file, save_file

    classnames, templates = choice.classnames, choice.templates
    key = digest(["prompt-ensemble", weights_fingerprint, list(classnames), list(templates)], 24)
    path = text_cache_path(key)
    if path.is_file():
        return load_file(path)["class_embeddings"], key
    embeddings = compute().float().contiguous()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        meta = {"head": choice.head, "classes": str(len(classnames)), "templates": json.dumps(list(templates))}
        save_file({"class_embeddings": embeddings}, tmp, metadata=meta)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return embeddings, key


# Stages of a CLIP image tower, named like timm's stages of the same architecture where one exists (ViT:
# patch_embed, blocks.N, head), per open_clip tower class; ``name`` is the layer name inside ``visual``.
def _vit_stage(name: str, tower: nn.Module) -> str:
    block = re.match(r"transformer\.resblocks\.(\d+)\.", name)
    if block:
        return f"blocks.{block.group(1)}"
    embedding = ("conv1", "ln_pre", "class_embedding", "positional_embedding")
    return "patch_embed" if name.split(".")[0] in embedding else "head"  # ln_post, proj, attn_pool


def _resnet_stage(name: str, tower: nn.Module) -> str:
    top = name.split(".")[0]
    return "stem" if re.fullmatch(r"(conv|bn)\d", top) else top  # the 3-conv stem, layer1..4, attnpool


def _timm_tower_stage(name: str, tower: nn.Module) -> str:
    if name.startswith("trunk."):  # a timm network: its own parameter groups
        inner = name.removeprefix("trunk.")
        return layer_stages(tower.trunk, [inner])[inner]
    return "head"


TOWER_STAGES: dict[str, Callable[[str, nn.Module], str]] = {
    "VisionTransformer": _vit_stage,
    "ModifiedResNet": _resnet_stage,
    "TimmModel": _timm_tower_stage,
}


class ZeroShotNet(nn.Module):
    """A CLIP image tower (``visual``) with a fixed zero-shot head: normalised image embeddings times the
    class embeddings (a buffer, no parameters), scaled by the model's logit scale. Gradients flow through the
    image tower only. ``rebuild_visual`` builds a freshly initialised tower of the same architecture (layer
    criticality's reset)."""

    def __init__(
        self,
        visual: nn.Module,
        class_embeddings: torch.Tensor,
        logit_scale: float,
        rebuild_visual: Callable[[], nn.Module],
    ):
        super().__init__()
        self.visual = visual
        self.register_buffer("class_embeddings", class_embeddings.float().clone())
        self.register_buffer("logit_scale", torch.tensor(float(logit_scale)))
        self.rebuild_visual = rebuild_visual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = getattr(self.visual, "image_size", None)  # open_clip's towers have fixed position embeddings
        if size is not None and tuple(x.shape[-2:]) != tuple(to_pair(size)):
            raise BiasbenchError(
                f"this CLIP image tower takes {to_pair(size)[0]}x{to_pair(size)[1]} images, got "
                f"{x.shape[-2]}x{x.shape[-1]}: a dataset fed at its native resolution (cue-conflict: 224 px) "
                "needs a model of that input size"
            )
        features = self.visual(x)
        if isinstance(features, tuple):  # towers that also return their tokens (CoCa)
            features = features[0]
        features = F.normalize(features, dim=-1)
        return self.logit_scale.to(features.dtype) * features @ self.class_embeddings.to(features.dtype).T

    def layer_stage(self, layer: str) -> str | None:
        """The stage of an image-tower layer (the hook ``biasbench.models.layers.layer_stages`` asks first)."""
        rule = TOWER_STAGES.get(type(self.visual).__name__)
        if rule is None or not layer.startswith("visual."):
            return None
        return rule(layer.removeprefix("visual."), self.visual)


def to_pair(size: int | Sequence[int]) -> tuple[int, int]:
    """(height, width) of an image size given as one number or two."""
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


@register_untrained_builder("openclip")
def _untrained_zero_shot(model: Classifier) -> nn.Module | None:
    net = model.net
    if not isinstance(net, ZeroShotNet):
        return None
    return ZeroShotNet(net.rebuild_visual(), net.class_embeddings.cpu(), float(net.logit_scale), net.rebuild_visual)
