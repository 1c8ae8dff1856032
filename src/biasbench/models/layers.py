"""Layers of a network: find the learnable ones, group them into stages, build a freshly initialised copy
of the architecture, and swap one layer's parameters out and back in exactly (layer criticality, METHODS §7).

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
from biasbench.models.timm_source import import_timm
from biasbench.models.torchvision_source import torchvision_models
from biasbench.models.wrapper import Classifier

CONV_LINEAR: tuple[type[nn.Module], ...] = (nn.modules.conv._ConvNd, nn.Linear)
NORMS: tuple[type[nn.Module], ...] = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


class LayerSelectionError(BiasbenchError):
    """Layer patterns that match no learnable layer, or a replacement that does not fit."""


def learnable_layers(net: nn.Module, patterns: Sequence[str] = ("*",), include_norm: bool = False) -> list[str]:
    """Module names (in definition order) of conv and linear layers with parameters, optionally also
    normalisation layers, whose name matches any glob in ``patterns`` (e.g. ``layer3.*``, ``fc``)."""
    kinds = CONV_LINEAR + (NORMS if include_norm else ())
    names = [
        name
        for name, module in net.named_modules()
        if name and isinstance(module, kinds) and any(True for _ in module.parameters(recurse=False))
    ]
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
    """Stage of every layer: the part of its name matched by timm's coarse parameter-group regexes (the
    grouping timm uses for layer-wise learning-rate decay: ResNet ``layer1``..``layer4``, EfficientNet
    ``blocks.0``..``blocks.6``, ConvNeXt ``stages.0``.., with the stem and head convs on their own), or else
    the layer's top-level module name (e.g. the classifier ``fc``; torchvision networks)."""
    patterns = _stage_patterns(net)
    stages = {}
    for layer in layers:
        match = next((m for m in (p.match(layer) for p in patterns) if m and m.group(0)), None)
        stages[layer] = match.group(0) if match else layer.split(".")[0]
    return stages


def meta_network(architecture: str) -> nn.Module:
    """A timm ``architecture`` built on the meta device: module names and stage groups, no weights or
    memory (for naming the layers of released results, which come without the network)."""
    with torch.device("meta"):
        return import_timm().create_model(architecture, pretrained=False)


# Builders of an untrained network of the same architecture, tried in order; each returns None when it
# does not apply. The first two use the library's own initialisation, as the published study does.
UntrainedBuilder = Callable[[Classifier], nn.Module | None]
UNTRAINED_BUILDERS: dict[str, UntrainedBuilder] = {}


def register_untrained_builder(name: str) -> Callable[[UntrainedBuilder], UntrainedBuilder]:
    def decorate(fn: UntrainedBuilder) -> UntrainedBuilder:
        UNTRAINED_BUILDERS[name] = fn
        return fn

    return decorate


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


@register_untrained_builder("reset_parameters")
def _reset_untrained(model: Classifier) -> nn.Module:
    # Any other module: PyTorch's default initialisation of every layer that defines reset_parameters.
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
        for name, build in UNTRAINED_BUILDERS.items():
            net = build(model)
            if net is not None:
                return net.eval(), name
    raise AssertionError("the reset_parameters builder always applies")


def layer_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """Deep copy (clones) of a module's own parameters and buffers."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


@torch.no_grad()
def _assign(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    # In-place copies keep the live tensors (and any optimiser/device placement) intact.
    live = module.state_dict()
    for key, value in state.items():
        live[key].copy_(value)


@contextmanager
def replaced_layer(net: nn.Module, name: str, replacement: nn.Module | None) -> Iterator[nn.Module]:
    """Within the block, layer ``name`` of ``net`` holds ``replacement``'s parameters and buffers (all zeros
    when ``replacement`` is None); on exit the original values are restored bit for bit."""
    module = net.get_submodule(name)
    backup = layer_state(module)
    if replacement is None:
        new_state = {k: torch.zeros_like(v) for k, v in backup.items()}
    else:
        new_state = replacement.state_dict()
        mismatched = [k for k, v in backup.items() if k not in new_state or new_state[k].shape != v.shape]
        if mismatched:
            raise LayerSelectionError(
                f"the fresh initialisation of layer {name!r} does not fit the trained one "
                f"(tensors {mismatched}); the architecture could not be rebuilt with the same configuration. "
                "Use reset=zero."
            )
        new_state = {k: new_state[k] for k in backup}
    try:
        _assign(module, new_state)
        yield module
    finally:
        _assign(module, backup)
