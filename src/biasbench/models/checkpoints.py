"""Checkpoint format adapters: turn the objects stored in published checkpoint files into a state dict
for a timm architecture.

Each adapter is registered by name (``@checkpoint_format``), declares which files it reads (e.g. a backbone
and a separately released linear head) and maps the loaded objects to clean keys. ``load_into`` then loads
strictly, so a format that does not fit fails loudly instead of leaving layers randomly initialised.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from biasbench.core.errors import ModelLoadError
from biasbench.core.fingerprint import file_sha256
from biasbench.core.registry import Registry

StateDict = dict[str, torch.Tensor]
WRAPPER_KEYS = ("state_dict", "model_state_dict", "model", "online_backbone")


@dataclass(frozen=True)
class CheckpointFormat:
    """How one family of published checkpoints is laid out."""

    name: str
    summary: str
    convert: Callable[[list[Any]], StateDict]
    files: tuple[str, ...] = ("weights",)  # roles of the files the adapter reads, in order


CHECKPOINT_FORMATS: Registry[CheckpointFormat] = Registry(
    "checkpoint format", packages=("biasbench.models",), group="biasbench.model_sources"
)


def checkpoint_format(name: str, summary: str, files: tuple[str, ...] = ("weights",)):
    """Decorator registering ``convert(objects) -> state_dict`` as the adapter ``name``."""

    def register(fn: Callable[[list[Any]], StateDict]) -> Callable[[list[Any]], StateDict]:
        CHECKPOINT_FORMATS.register(name, CheckpointFormat(name, summary, fn, files), definition=fn)
        return fn

    return register


def get_format(name: str) -> CheckpointFormat:
    """The adapter ``name``; unknown names get suggestions."""
    return CHECKPOINT_FORMATS[name]


# ---- reading ----------------------------------------------------------------------------------------------


def read_checkpoint(path: Path) -> Any:
    """The object stored in a checkpoint file (safetensors, or torch with ``weights_only=True``), unwrapped
    by nothing: adapters decide which entries matter."""
    if not path.is_file():
        raise ModelLoadError(f"checkpoint {path} does not exist; check the path")
    with open(path, "rb") as f:
        head = f.read(64)
    from biasbench.core.downloads import looks_like_html

    if looks_like_html(head):
        raise ModelLoadError(
            f"{path} is a web page, not a checkpoint (a failed Google-Drive or login download), so it cannot be "
            "read as weights. Delete it, download the file by hand and place it at the same path."
        )
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as e:  # safetensors' own error type: a truncated file or not safetensors at all
            raise ModelLoadError(
                f"cannot read {path} as safetensors ({e}): the file is truncated or in another format. "
                "Download or save it again."
            ) from e
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors (non-tensor objects), truncated files
        raise ModelLoadError(
            f"cannot read checkpoint {path} with weights_only=True: {e}. biasbench never unpickles arbitrary "
            "objects; re-save the tensors (torch.save(state_dict) or safetensors) and load with file:PATH."
        ) from e


def unwrap(obj: Any, keys: Iterable[str] = WRAPPER_KEYS) -> dict[str, Any]:
    """Descend through training-checkpoint wrappers (``{'state_dict': {...}, 'epoch': ...}``) to the tensors."""
    keys = tuple(keys)
    while isinstance(obj, dict):
        inner = next((obj[k] for k in keys if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, dict):
        raise ModelLoadError(f"checkpoint holds a {type(obj).__name__}, not a state dict")
    return obj


def strip_prefixes(state: dict[str, Any], prefixes: Iterable[str] = ("module.", "model.")) -> StateDict:
    """Remove (repeated) DataParallel / wrapper prefixes and drop non-tensor entries."""
    prefixes = tuple(prefixes)
    out = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        while key.startswith(prefixes):
            key = key[len(next(p for p in prefixes if key.startswith(p))) :]
        out[key] = value
    return out


def drop_keys(state: StateDict, patterns: Iterable[str]) -> StateDict:
    """Remove entries whose key matches any regular expression in ``patterns``."""
    rx = re.compile("|".join(patterns))
    return {k: v for k, v in state.items() if not rx.search(k)}


def _linear_head(obj: Any) -> StateDict:
    """A linear-evaluation head released on its own (``module.linear.{weight,bias}``) as ``fc.*``."""
    head = strip_prefixes(unwrap(obj), ("module.",))
    fc = {k.replace("linear.", "fc.", 1): v for k, v in head.items() if k.startswith("linear.")}
    if set(fc) != {"fc.weight", "fc.bias"}:
        raise ModelLoadError(f"linear head checkpoint has keys {sorted(head)[:6]}, expected linear.weight/bias")
    return fc


# ---- the adapters -----------------------------------------------------------------------------------------


@checkpoint_format(
    "state_dict",
    "a state dict, possibly wrapped ({'state_dict'|'model': ...}) with module./model. "
    "prefixes (torchvision/timm, MoCo v3 linear-eval, PRIME, SIN, AugMix, PixMix, ...)",
)
def _plain(objs: list[Any]) -> StateDict:
    return strip_prefixes(unwrap(objs[0]))


@checkpoint_format(
    "madry",
    "Madry-lab robustness checkpoints: {'model': {'module.model.*', 'module.attacker.*', "
    "'module.normalizer.*'}}; the attacker copy and the normaliser are dropped",
)
def _madry(objs: list[Any]) -> StateDict:
    state = unwrap(objs[0], ("model", "state_dict"))
    model = {k.removeprefix("module.model."): v for k, v in state.items() if k.startswith("module.model.")}
    if not model:
        raise ModelLoadError(f"not a Madry-lab checkpoint: no 'module.model.' keys among {sorted(state)[:5]}")
    return strip_prefixes(model, ())


@checkpoint_format("tsbias", "shape-texture debiased models (Li et al. 2021): auxiliary BatchNorms (aux_bn) dropped")
def _tsbias(objs: list[Any]) -> StateDict:
    return drop_keys(strip_prefixes(unwrap(objs[0]), ("module.",)), [r"(^|\.)aux_bn\."])


@checkpoint_format(
    "dino",
    "DINO ResNet-50: backbone file + separately released linear head (module.linear.*)",
    files=("weights", "head"),
)
def _dino(objs: list[Any]) -> StateDict:
    backbone = drop_keys(strip_prefixes(unwrap(objs[0]), ("module.",)), [r"^fc\.", r"^head\."])
    return {**backbone, **_linear_head(objs[1])}


@checkpoint_format(
    "swav", "SwAV ResNet-50: backbone (projection head and prototypes dropped) + linear head", files=("weights", "head")
)
def _swav(objs: list[Any]) -> StateDict:
    backbone = drop_keys(strip_prefixes(unwrap(objs[0]), ("module.",)), [r"^projection_head\.", r"^prototypes\."])
    return {**backbone, **_linear_head(objs[1])}


# SimCLRv2 checkpoints converted from TF (Separius/SimCLRv2-Pytorch layout): net.0 = stem, net.1..4 = stages
# of blocks whose layers sit in a Sequential (convs at 0/2/4, BatchNorm+ReLU pairs at 1/3/5).
_SIMCLR_STEM = {"0": "conv1", "1.0": "bn1"}
_SIMCLR_BLOCK = {"0": "conv1", "1.0": "bn1", "2": "conv2", "3.0": "bn2", "4": "conv3", "5.0": "bn3"}
_SIMCLR_RX = [
    (re.compile(r"^net\.?0\.(\d(?:\.0)?)\.(\w+)$"), lambda m: f"{_SIMCLR_STEM[m[1]]}.{m[2]}"),
    (
        re.compile(r"^net\.(\d)\.blocks\.(\d+)\.net\.(\d(?:\.0)?)\.(\w+)$"),
        lambda m: f"layer{m[1]}.{m[2]}.{_SIMCLR_BLOCK[m[3]]}.{m[4]}",
    ),
    (
        re.compile(r"^net\.(\d)\.blocks\.(\d+)\.projection\.shortcut\.(\w+)$"),
        lambda m: f"layer{m[1]}.{m[2]}.downsample.0.{m[3]}",
    ),
    (
        re.compile(r"^net\.(\d)\.blocks\.(\d+)\.projection\.bn\.0\.(\w+)$"),
        lambda m: f"layer{m[1]}.{m[2]}.downsample.1.{m[3]}",
    ),
    (re.compile(r"^(fc\.\w+)$"), lambda m: m[1]),
]


@checkpoint_format("simclrv2_tf", "SimCLRv2 converted from TensorFlow ({'resnet': net.N.blocks.M...}) -> timm keys")
def _simclrv2(objs: list[Any]) -> StateDict:
    state = unwrap(objs[0], ("resnet",))
    out = {}
    for key, value in strip_prefixes(state, ("module.",)).items():
        for rx, rename in _SIMCLR_RX:
            m = rx.match(key)
            if m:
                out[rename(m)] = value
                break
        else:
            raise ModelLoadError(f"SimCLRv2 checkpoint key {key!r} does not fit the TF-converted ResNet layout")
    return out


# ---- loading ----------------------------------------------------------------------------------------------


def convert_checkpoint(fmt: str, paths: list[Path]) -> StateDict:
    """Read the files of one checkpoint and convert them with the named adapter."""
    adapter = get_format(fmt)
    if len(paths) != len(adapter.files):
        raise ModelLoadError(f"format {fmt!r} reads {len(adapter.files)} file(s) {adapter.files}, got {len(paths)}")
    return adapter.convert([read_checkpoint(p) for p in paths])


def load_into(net: nn.Module, state: StateDict, *, where: str = "checkpoint") -> nn.Module:
    """Load ``state`` strictly, tolerating only missing BatchNorm ``num_batches_tracked`` counters (which old
    checkpoints lack and which do not affect inference); raise a readable error on any other mismatch."""
    expected = net.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong = [
        f"{k} {tuple(v.shape)} vs {tuple(expected[k].shape)}"
        for k, v in state.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if missing or unexpected or wrong:
        parts = [
            f"{name}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
            for name, keys in (("missing", missing), ("unexpected", unexpected), ("shape", wrong))
            if keys
        ]
        raise ModelLoadError(f"{where} does not fit {type(net).__name__} ({'; '.join(parts)})")
    net.load_state_dict(state, strict=False)
    return net


def checkpoint_digest(paths: list[Path]) -> list[str]:
    """sha256 of each checkpoint file (for fingerprints)."""
    return [file_sha256(p) for p in paths]
