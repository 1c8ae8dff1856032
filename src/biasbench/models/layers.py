"""Layers of a network: find the learnable ones, group them into stages, build a freshly initialised copy
of the architecture, and swap one layer's parameters out and back in exactly (layer criticality, METHODS §7).

A layer is a module with its own parameters that maps its input linearly — a convolution, a linear layer, or
the input projection of an attention module (``nn.MultiheadAttention``'s and open_clip's ``in_proj_weight``,
the q/k/v map timm writes as a ``qkv`` Linear; its ``out_proj`` is a Linear of its own) — optionally a
normalisation layer, or a projection matrix kept as a bare parameter named ``proj`` (open_clip's
VisionTransformer output projection, the counterpart of timm's ViT ``head``; such a layer is named
``visual.proj``). A layer's state is its own parameters and buffers, never its children's.

The released layer-criticality code backs weights up with a shallow ``state_dict().copy()``, which aliases
the live tensors on a CPU run, so resets accumulate across layers (ANCHORS.md §2.2). Here the backup is a
clone and the restore copies in place, so the network is bit-identical afterwards.
"""

from __future__ import annotations

import copy
import fnmatch
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

from biasbench.core.errors import BiasbenchError
from biasbench.core.registry import Registry
from biasbench.models.timm_source import import_timm
from biasbench.models.torchvision_source import torchvision_models
from biasbench.models.wrapper import Classifier

LINEAR_MAPS: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd, nn.Linear, nn.MultiheadAttention)
NORMS: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)
ATTENTION_INPUT = "in_proj_weight"  # the parameter that makes an attention module's own q/k/v projection a layer
PROJECTIONS = ("proj",)  # bare 2-D parameters that are a linear map of their own


class LayerSelectionError(BiasbenchError):
    """Layer patterns that match no learnable layer, or a replacement that does not fit."""


def _own_keys(module: nn.Module) -> list[str]:
    return [k for k in module.state_dict() if "." not in k]


def _is_layer(module: nn.Module, kinds: tuple[type[nn.Module], ...]) -> bool:
    own = dict(module.named_parameters(recurse=False))
    return bool(own) and (isinstance(module, kinds) or ATTENTION_INPUT in own)


def _layers_in(prefix: str, module: nn.Module, kinds: tuple[type[nn.Module], ...]) -> list[str]:
    """Layers of ``module`` in definition order; a bare projection comes after its owner's children (it is
    applied last: open_clip's ``x @ proj``)."""
    names = [prefix] if prefix and _is_layer(module, kinds) else []
    for child_name, child in module.named_children():
        names += _layers_in(f"{prefix}.{child_name}" if prefix else child_name, child, kinds)
    for name, param in module.named_parameters(recurse=False):
        if name in PROJECTIONS and param.dim() == 2 and not isinstance(module, kinds):
            names.append(f"{prefix}.{name}" if prefix else name)
    return names


def learnable_layers(net: nn.Module, patterns: Sequence[str] = ("*",), include_norm: bool = False) -> list[str]:
    """Names (in network order) of the conv, linear and attention-input layers and bare projections (see
    the module docstring), optionally also normalisation layers, that match any glob in ``patterns`` (e.g.
    ``layer3.*``, ``fc``)."""
    names = _layers_in("", net, LINEAR_MAPS + (NORMS if include_norm else ()))
    selected = [n for n in names if any(fnmatch.fnmatchcase(n, p) for p in patterns)]
    if not selected:
        shown = ", ".join(names[:8]) + (" ..." if len(names) > 8 else "")
        raise LayerSelectionError(
            f"layer patterns {list(patterns)} match none of the {len(names)} learnable layers ({shown}); "
            "use globs over module names, e.g. 'layer3.*' or '*conv*'."
        )
    return selected


def _stage_patterns(net: nn.Module) -> list[re.Pattern[str]]:
    """The regexes of timm's coarse parameter groups (stem, then one per stage), in order."""
    matcher = getattr(net, "group_matcher", None)
    if not callable(matcher):
        return []
    patterns = []
    for value in matcher(coarse=True).values():
        entries = value if isinstance(value, list | tuple) else [(value, None)]
        patterns += [re.compile(regex) for regex, _ in entries]
    return patterns


def layer_stages(net: nn.Module, layers: Sequence[str]) -> dict[str, str]:
    """Stage of every layer: the network's own answer where it has a ``layer_stage(name)`` method (a CLIP
    image tower, ``biasbench.models.zero_shot``), else the part of its name matched by timm's coarse
    parameter-group regexes (the grouping timm uses for layer-wise learning-rate decay: ResNet
    ``layer1``..``layer4``, EfficientNet ``blocks.0``..``blocks.6``, ConvNeXt ``stages.0``.., ViT
    ``patch_embed``, ``blocks.0``.., with the stem and head on their own), or else the layer's top-level module
    name (e.g. the classifier ``fc`` or ``head``; torchvision networks)."""
    own = getattr(net, "layer_stage", None)
    patterns = _stage_patterns(net)
    stages = {}
    for layer in layers:
        stage = own(layer) if callable(own) else None
        if stage is None:
            match = next((m for m in (p.match(layer) for p in patterns) if m and m.group(0)), None)
            stage = match.group(0) if match else layer.split(".")[0]
        stages[layer] = stage
    return stages


def meta_network(architecture: str) -> nn.Module:
    """A timm ``architecture`` built on the meta device: module names and stage groups, no weights or
    memory (for naming the layers of released results, which come without the network)."""
    with torch.device("meta"):
        return import_timm().create_model(architecture, pretrained=False)


# Builders of an untrained network of the same architecture; each returns None when the model is not its kind
# (they do not overlap: a timm config, a torchvision spec, a zero-shot network), and they are tried in name order.
# They use the library's own initialisation, as the published study does; a network none of them knows gets
# PyTorch's default initialisation of every layer (``default_untrained``).
UntrainedBuilder = Callable[[Classifier], nn.Module | None]
UNTRAINED_BUILDERS: Registry[UntrainedBuilder] = Registry(
    "untrained-network builder", packages=("biasbench.models",), group="biasbench.model_sources"
)


def register_untrained_builder(name: str) -> Callable[[UntrainedBuilder], UntrainedBuilder]:
    """Decorator registering a builder of a freshly initialised network under ``name``."""
    return UNTRAINED_BUILDERS.decorator(name)


@register_untrained_builder("timm")
def _timm_untrained(model: Classifier) -> nn.Module | None:
    cfg = getattr(model.net, "pretrained_cfg", None) or {}
    arch = cfg.get("architecture")
    if not arch:
        return None
    kwargs = {"num_classes": model.net.num_classes} if hasattr(model.net, "num_classes") else {}
    return import_timm().create_model(arch, pretrained=False, **kwargs)


@register_untrained_builder("torchvision")
def _torchvision_untrained(model: Classifier) -> nn.Module | None:
    spec = str(model.source.get("spec", ""))
    if not spec.startswith("torchvision:"):
        return None
    return torchvision_models().get_model(spec.split(":")[1].split("?")[0], weights=None)


def default_untrained(model: Classifier) -> nn.Module:
    """A copy of ``model``'s network with PyTorch's default initialisation of every layer that defines
    ``reset_parameters`` (the builder of last resort, named ``reset_parameters``)."""
    net = copy.deepcopy(model.net).cpu()
    for module in net.modules():
        if callable(getattr(module, "reset_parameters", None)):
            module.reset_parameters()
    return net


def untrained_network(model: Classifier, seed: int) -> tuple[nn.Module, str]:
    """A freshly initialised network of ``model``'s architecture (on the CPU) and the builder used.

    The global RNG is forked and seeded with ``seed``, so the draw is reproducible and the caller's RNG
    state is untouched.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name, build in sorted(UNTRAINED_BUILDERS.items()):
            net = build(model)
            if net is not None:
                return net.eval(), name
        return default_untrained(model).eval(), "reset_parameters"


def _owner(net: nn.Module, name: str) -> tuple[nn.Module, list[str]]:
    """The module holding layer ``name`` and the keys of its state that are the layer's."""
    try:
        module = net.get_submodule(name)
    except AttributeError:  # a bare projection parameter such as visual.proj
        parent, _, attr = name.rpartition(".")
        return net.get_submodule(parent), [attr]
    return module, _own_keys(module)


def layer_state(net: nn.Module, name: str) -> dict[str, torch.Tensor]:
    """Deep copy (clones) of layer ``name``'s own parameters and buffers."""
    module, keys = _owner(net, name)
    state = module.state_dict()
    return {k: state[k].detach().clone() for k in keys}


@torch.no_grad()
def _assign(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    # In-place copies keep the live tensors (and any optimiser/device placement) intact.
    live = module.state_dict()
    for key, value in state.items():
        live[key].copy_(value)


@contextmanager
def replaced_layer(net: nn.Module, name: str, replacement: dict[str, torch.Tensor] | None) -> Iterator[nn.Module]:
    """Within the block, layer ``name`` of ``net`` holds ``replacement`` (a ``layer_state``, e.g. of the
    same-named layer of a fresh network; all zeros when None); on exit the original values are restored bit for
    bit. Yields the module that holds the layer."""
    module, _ = _owner(net, name)
    backup = layer_state(net, name)
    if replacement is None:
        new_state = {k: torch.zeros_like(v) for k, v in backup.items()}
    else:
        mismatched = [k for k, v in backup.items() if k not in replacement or replacement[k].shape != v.shape]
        if mismatched:
            raise LayerSelectionError(
                f"the fresh initialisation of layer {name!r} does not fit the trained one "
                f"(tensors {mismatched}); the architecture could not be rebuilt with the same configuration. "
                "Use reset=zero."
            )
        new_state = {k: replacement[k] for k in backup}
    try:
        _assign(module, new_state)
        yield module
    finally:
        _assign(module, backup)
