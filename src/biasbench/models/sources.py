"""Model sources: parse a model spec (``source:ref?key=value``) and load it as a wrapped Classifier.

This module holds the spec, the source base class and the registry; the sources themselves live in
``timm_source`` (timm:, hf-hub:), ``torchvision_source``, ``file_source``, ``bundled``, ``tflite``,
``zoo_source`` and ``openclip_source``, found by the registry on its first lookup.

A source is a small class registered under its prefix. Add one with ``@register_source`` in a module of
``biasbench.models`` (or of a plug-in listed under the ``biasbench.model_sources`` entry points)::

    @register_source
    class MySource(ModelSource):
        prefix = "mine"
        summary = "models from my lab's registry"
        example = "mine:resnet50-v3"

        def load(self, spec): ...
        def fingerprint(self, spec): ...
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import parse_qsl

import torch

from biasbench.core.errors import BiasbenchError
from biasbench.core.fingerprint import digest, state_dict_fingerprint
from biasbench.core.preprocessing import Preprocess
from biasbench.core.registry import Registry
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
        example = MODEL_SOURCES[source].example  # an unknown source is named with suggestions
        if not ref:
            raise BiasbenchError(f"model spec {text!r} names no model; e.g. {example!r}")
        return cls(source, ref, dict(parse_qsl(query, keep_blank_values=True)))

    def flag(self, key: str, default: bool) -> bool:
        value = self.options.get(key)
        return default if value is None else value.lower() in {"1", "true", "yes", "on"}

    def triple(self, key: str, default: tuple[float, float, float]) -> tuple[float, float, float]:
        """A per-channel option such as ``?mean=0.5`` or ``?std=0.2,0.3,0.4`` (one value means all three)."""
        text = self.options.get(key)
        if text is None:
            return default
        values = tuple(float(v) for v in text.split(","))
        if len(values) == 1:
            values = values * 3
        if len(values) != 3:
            raise BiasbenchError(f"mean/std must be one or three comma-separated numbers, got {text!r}")
        return values  # type: ignore[return-value]


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


MODEL_SOURCES: Registry[ModelSource] = Registry(
    "model source",
    packages=("biasbench.models",),
    group="biasbench.model_sources",
    hint="A model spec looks like 'timm:resnet50.a1_in1k'; `biasbench models` lists the sources.",
)
"""Every model source by prefix: the modules of ``biasbench.models`` and the ``biasbench.model_sources`` plug-ins."""


def register_source(cls: type[ModelSource]) -> type[ModelSource]:
    """Class decorator adding a source to the registry under its prefix."""
    MODEL_SOURCES.register(cls.prefix, cls(), definition=cls)
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
