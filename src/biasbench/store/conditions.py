"""Conditions as data: what a record's ``condition`` names, as typed values that are written and read here only.

A record's ``condition`` (``store.records``) is stored as text. Every probe builds it from one of the kinds
below and every reader parses it back with them, so no other code splits a condition string (a "/" may
also sit inside a value: ``pgd/linf/eps=0.5/255``). The text of each kind is exactly what the probes have
always stored, so results directories of every earlier version read the same.

stored text                                     kind                  written by
``""``                                          ``Clean``             every probe (the unperturbed images)
``lowpass/0.3``, ``highpass/0.3``               ``Filter``            spectral
``sigma/0.08/band/3``                           ``NoiseCell``         critical-band (a grid cell)
``band/3``                                      ``Band``              critical-band (a threshold)
``generated``, ``ondisk/fog``, ``…/fog/3``      ``CorruptionSet``     corruption (mode; corruption; severity)
``generated/fog+snow[/severities=1,3]``         ``CorruptionSubset``  corruption (aggregates of a subset)
``pgd/linf/eps=0.5/255[/steps=10][/step=…]``    ``Attack``            adversarial; input shifts
``area/0.2``, ``rotation/30``                   ``FactorLevel``       si-score
``x/0.05/y/1.00``                               ``Location``          si-score
``naive/224``, ``bn``                           ``ResolutionSetting`` resolution
``class/<name>``                                ``ClassGroup``        refined-bias
``step/100``                                    ``TrainingStep``      the contamination experiment
anything else (a layer, a stage, ``finetune``)  ``Named``             criticality, transfer, critical-band

``parse_condition(text)`` gives the kind a text is written in (``Named`` when it is none of the others), and
``str(condition)`` its text again: ``str(parse_condition(t)) == t`` for every text a probe writes. A reader that
knows the kind it reads asks that kind (``Filter.parse(text)``), which refuses any other text by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Self

from biasbench.core.errors import BiasbenchError

SEP = "/"


class ConditionError(BiasbenchError, ValueError):
    """A condition text that is not written in the kind it is read as."""


def number(value: float) -> str:
    """A number as conditions write it: the shortest clean decimal (``0.3``, not ``0.30000000000000004``)."""
    return f"{_rounded(value):g}"


def _rounded(value: float) -> float:
    """The value a written number stands for (so two conditions that write the same text are equal)."""
    return round(float(value), 10)


class Condition:
    """A condition of some kind; ``str()`` is its stored text, ``parse`` reads it back."""

    kind: ClassVar[str]  # what it is, in words
    form: ClassVar[str]  # how it is written

    @classmethod
    def parse(cls, text: str) -> Self:
        """The condition ``text`` names, read as this kind; ``ConditionError`` when it is written otherwise."""
        parts = text.split(SEP) if text else []
        try:
            parsed = cls._from_parts(parts)
        except (ValueError, IndexError):
            parsed = None
        if parsed is None:
            raise ConditionError(f"condition {text!r} is not a {cls.kind} condition, written {cls.form}")
        return parsed

    @classmethod
    def _from_parts(cls, parts: list[str]) -> Self | None:
        raise NotImplementedError


@dataclass(frozen=True)
class Clean(Condition):
    """The unperturbed images: ``""``."""

    kind, form = "clean", '""'

    def __str__(self) -> str:
        return ""

    @classmethod
    def _from_parts(cls, parts: list[str]) -> Clean | None:
        return cls() if not parts else None


@dataclass(frozen=True)
class Named(Condition):
    """A condition that is one name: a layer or stage, a method (``finetune``), a reference (``noise-free``)."""

    kind, form = "named", "a name"
    name: str

    def __str__(self) -> str:
        return self.name

    @classmethod
    def _from_parts(cls, parts: list[str]) -> Named | None:
        return cls(SEP.join(parts)) if parts else None


@dataclass(frozen=True)
class Filter(Condition):
    """A Fourier-filtered set: ``lowpass/<cut-off>`` or ``highpass/<cut-off>``."""

    kind, form = "filter", "lowpass/<cut-off> or highpass/<cut-off>"
    KINDS: ClassVar[tuple[str, ...]] = ("lowpass", "highpass")
    filter: str
    cutoff: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "cutoff", _rounded(self.cutoff))

    def __str__(self) -> str:
        return f"{self.filter}/{number(self.cutoff)}"

    @classmethod
    def _from_parts(cls, parts: list[str]) -> Filter | None:
        return cls(parts[0], float(parts[1])) if len(parts) == 2 and parts[0] in cls.KINDS else None


@dataclass(frozen=True)
class NoiseCell(Condition):
    """One cell of the critical-band grid: ``sigma/<σ>/band/<band>``."""

    kind, form = "noise cell", "sigma/<σ>/band/<band>"
    sigma: float
    band: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma", _rounded(self.sigma))

    def __str__(self) -> str:
        return f"sigma/{number(self.sigma)}/band/{self.band}"

    @classmethod
    def _from_parts(cls, parts: list[str]) -> NoiseCell | None:
        ok = len(parts) == 4 and parts[0] == "sigma" and parts[2] == "band"
        return cls(float(parts[1]), _index(parts[3])) if ok else None


@dataclass(frozen=True)
class Band(Condition):
    """One octave band of the critical-band masking: ``band/<band>``."""

    kind, form = "band", "band/<band>"
    band: int

    def __str__(self) -> str:
        return f"band/{self.band}"

    @classmethod
    def _from_parts(cls, parts: list[str]) -> Band | None:
        return cls(_index(parts[1])) if len(parts) == 2 and parts[0] == "band" else None


CORRUPTION_MODES = ("generated", "ondisk")  # generated on the fly, or the released files


@dataclass(frozen=True)
class CorruptionSet(Condition):
    """Corrupted images: ``<mode>`` (all of a mode), ``<mode>/<corruption>`` or ``<mode>/<corruption>/<severity>``."""

    kind, form = "corruption", "<mode>[/<corruption>[/<severity>]]"
    mode: str
    corruption: str | None = None
    severity: int | None = None

    def __str__(self) -> str:
        parts = [self.mode, self.corruption, None if self.severity is None else str(self.severity)]
        return SEP.join(p for p in parts if p is not None)

    @classmethod
    def _from_parts(cls, parts: list[str]) -> CorruptionSet | None:
        if not 1 <= len(parts) <= 3 or parts[0] not in CORRUPTION_MODES or not all(parts) or "+" in "".join(parts[1:2]):
            return None
        return cls(parts[0], *parts[1:2], *(_index(p) for p in parts[2:]))


@dataclass(frozen=True)
class CorruptionSubset(Condition):
    """An aggregate over a subset of corruptions: ``<mode>/<c1>+<c2>…`` and, unless all five severities,
    ``/severities=<s1>,<s2>…`` (``severities`` empty: all five)."""

    kind, form = "corruption subset", "<mode>/<c1>+<c2>…[/severities=<s1>,…]"
    mode: str
    corruptions: tuple[str, ...]
    severities: tuple[int, ...] = ()

    def __str__(self) -> str:
        text = f"{self.mode}/{'+'.join(self.corruptions)}"
        return f"{text}/severities={','.join(map(str, self.severities))}" if self.severities else text

    @classmethod
    def _from_parts(cls, parts: list[str]) -> CorruptionSubset | None:
        if len(parts) not in (2, 3) or parts[0] not in CORRUPTION_MODES or not parts[1]:
            return None
        severities = ()
        if len(parts) == 3:
            if not parts[2].startswith("severities="):
                return None
            severities = tuple(_index(s) for s in parts[2].removeprefix("severities=").split(","))
        return cls(parts[0], tuple(parts[1].split("+")), severities)


@dataclass(frozen=True)
class Attack(Condition):
    """Adversarial images: ``<attack>/<norm>/eps=<ε>`` then ``/steps=<n>`` and ``/step=<size>`` when given; ε
    and the step size are kept as written (a fraction such as ``0.5/255`` holds a "/")."""

    kind, form = "attack", "<attack>/<norm>/eps=<ε>[/steps=<n>][/step=<size>]"
    OPTIONS: ClassVar[tuple[str, ...]] = ("eps", "steps", "step")
    attack: str
    norm: str
    epsilon: str
    steps: int | None = None
    step_size: str | None = None

    def __str__(self) -> str:
        values = (self.epsilon, self.steps, self.step_size)
        options = [f"{k}={v}" for k, v in zip(self.OPTIONS, values, strict=True) if v is not None]
        return SEP.join([self.attack, self.norm, *options])

    @classmethod
    def _from_parts(cls, parts: list[str]) -> Attack | None:
        if len(parts) < 3 or "=" in parts[0] or "=" in parts[1] or "=" not in parts[2]:
            return None
        settings: dict[str, str] = {}
        last = ""
        for token in parts[2:]:
            if "=" in token:
                last, _, value = token.partition("=")
                if last in settings:
                    return None
                settings[last] = value
            else:  # the denominator of a fraction such as eps=0.5/255
                settings[last] += SEP + token
        if "eps" not in settings or set(settings) - set(cls.OPTIONS) or not all(settings.values()):
            return None
        steps = settings.get("steps")
        return cls(parts[0], parts[1], settings["eps"], None if steps is None else _index(steps), settings.get("step"))

    @property
    def epsilon_value(self) -> float:
        """ε as a number (``0.5/255`` → 0.00196…)."""
        return amount(self.epsilon)


def amount(value: object) -> float:
    """A number, or one written as text plainly or as a fraction (``"0.5/255"``), as ε and step sizes are."""
    if not isinstance(value, str):
        return float(value)  # type: ignore[arg-type]
    num, sep, den = value.partition(SEP)
    return float(num) / float(den) if sep else float(num)


@dataclass(frozen=True)
class FactorLevel(Condition):
    """An SI-SCORE group of one factor's value: ``area/<area>`` or ``rotation/<degrees>``."""

    kind, form = "factor level", "area/<area> or rotation/<degrees>"
    FACTORS: ClassVar[tuple[str, ...]] = ("area", "rotation")
    factor: str
    value: float

    def __str__(self) -> str:
        return f"{self.factor}/{self.value:g}"

    @classmethod
    def _from_parts(cls, parts: list[str]) -> FactorLevel | None:
        return cls(parts[0], float(parts[1])) if len(parts) == 2 and parts[0] in cls.FACTORS else None


@dataclass(frozen=True)
class Location(Condition):
    """An SI-SCORE group of object locations: ``x/<x>/y/<y>`` (2 decimals, as robustness_metrics groups them)."""

    kind, form = "location", "x/<x>/y/<y>"
    factor: ClassVar[str] = "location"
    x: float
    y: float

    def __str__(self) -> str:
        return f"x/{self.x:.2f}/y/{self.y:.2f}"

    @classmethod
    def _from_parts(cls, parts: list[str]) -> Location | None:
        ok = len(parts) == 4 and parts[0] == "x" and parts[2] == "y"
        return cls(float(parts[1]), float(parts[3])) if ok else None


@dataclass(frozen=True)
class ResolutionSetting(Condition):
    """A test resolution under a protocol: ``<protocol>/<r>``, or ``<protocol>`` for the protocol's best."""

    kind, form = "resolution", "<protocol>[/<r>]"
    PROTOCOLS: ClassVar[tuple[str, ...]] = ("naive", "bn")
    protocol: str
    size: int | None = None

    def __str__(self) -> str:
        return self.protocol if self.size is None else f"{self.protocol}/{self.size}"

    @classmethod
    def _from_parts(cls, parts: list[str]) -> ResolutionSetting | None:
        if not 1 <= len(parts) <= 2 or parts[0] not in cls.PROTOCOLS:
            return None
        return cls(parts[0], *(_index(p) for p in parts[1:]))


@dataclass(frozen=True)
class ClassGroup(Condition):
    """The images of one class group: ``class/<name>``."""

    kind, form = "class group", "class/<name>"
    name: str

    def __str__(self) -> str:
        return f"class/{self.name}"

    @classmethod
    def _from_parts(cls, parts: list[str]) -> ClassGroup | None:
        return cls(SEP.join(parts[1:])) if len(parts) >= 2 and parts[0] == "class" and parts[1] else None


@dataclass(frozen=True)
class TrainingStep(Condition):
    """A point of a training run: ``step/<n>``."""

    kind, form = "training step", "step/<n>"
    step: int

    def __str__(self) -> str:
        return f"step/{self.step}"

    @classmethod
    def _from_parts(cls, parts: list[str]) -> TrainingStep | None:
        return cls(_index(parts[1])) if len(parts) == 2 and parts[0] == "step" else None


def _index(text: str) -> int:
    """A non-negative integer written without sign or leading zeros (so it reads back as the same text)."""
    if not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise ValueError(text)
    return int(text)


# The first part of a text → the kinds it may be written in, tried in order. Attacks are recognised by their form
# (a third part ``eps=…``), so a new attack or norm needs no entry here.
_BY_TAG: dict[str, Callable[[list[str]], Condition | None]] = {
    **dict.fromkeys(Filter.KINDS, Filter._from_parts),
    "sigma": NoiseCell._from_parts,
    "band": Band._from_parts,
    **dict.fromkeys(
        CORRUPTION_MODES, lambda parts: CorruptionSet._from_parts(parts) or CorruptionSubset._from_parts(parts)
    ),
    **dict.fromkeys(FactorLevel.FACTORS, FactorLevel._from_parts),
    "x": Location._from_parts,
    **dict.fromkeys(ResolutionSetting.PROTOCOLS, ResolutionSetting._from_parts),
    "class": ClassGroup._from_parts,
    "step": TrainingStep._from_parts,
}


def parse_condition(text: str) -> Condition:
    """The condition ``text`` names: the kind it is written in, else ``Named`` (a layer, a stage, a method).
    Numbers are read by value, so ``str()`` of the result writes them as the kind does (``canonical_condition``)."""
    text = text or ""
    if not text:
        return Clean()
    parts = text.split(SEP)
    reader = _BY_TAG.get(parts[0])
    try:
        parsed = reader(parts) if reader is not None else Attack._from_parts(parts)
    except (ValueError, IndexError):
        parsed = None
    return parsed if parsed is not None else Named(text)


def parse_as(text: str, *kinds: type[Condition]) -> Condition:
    """``text`` read as the first of ``kinds`` it is written in; ``ConditionError`` naming their forms otherwise."""
    for kind in kinds:
        try:
            return kind.parse(text)
        except ConditionError:
            continue
    forms = " or ".join(f"{k.form} ({k.kind})" for k in kinds)
    raise ConditionError(f"condition {text!r} is written neither way it is read here: {forms}")


def canonical_condition(text: str) -> str:
    """``text`` as its kind writes it: numbers compare by value (``lowpass/0.30000000000000004`` → ``lowpass/0.3``)."""
    return str(parse_condition(text))
