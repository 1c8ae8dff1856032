"""The probe interface. A probe is one measurement: it declares its parameters (with defaults from
METHODS.md), the datasets it runs on, and turns a model's outputs into tidy records.

Add a probe::

    class MyParams(ProbeParams):
        strength: float = 0.5

    @register_probe
    class MyProbe(Probe):
        name = "my-probe"
        summary = "what it measures"
        citation = "Author et al., Venue Year"
        Params = MyParams
        default_datasets = ("imagenet-sample",)   # or fixed_datasets for a probe with its own stimuli
        metrics = (                               # every record name it emits (biasbench.store.metrics)
            Metric("my-probe", "top1", "Top-1 when dark", "fraction", "more images right", condition="dark"),
            Metric("my-probe", "top5", "Top-5 when dark", "fraction", "more images right", condition="dark"),
        )

        def run(self, ctx: ProbeContext) -> ProbeOutput:
            run = evaluate_labelled(ctx, conditions={"clean": None, "dark": lambda x, idx: x * 0.5})
            topk = run.result.outputs["dark"]["topk"].astype(np.int64)
            records = space_accuracy_records(run.space, topk, run.samples, "dark")
            return ProbeOutput(records, outputs_frame(ctx.dataset, run.result))

``evaluate_labelled`` (``biasbench.probes.outputs``) streams the dataset to the engine and scores every
condition in the dataset's label space; ``space_accuracy_records`` is in ``biasbench.probes.accuracy``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

from biasbench.core.errors import ParameterError, UnknownNameError
from biasbench.core.registry import Registry
from biasbench.core.validation import Declared
from biasbench.data.datasets import Dataset
from biasbench.engine.inference import Engine
from biasbench.models.wrapper import Classifier
from biasbench.store.metrics import Metric
from biasbench.store.records import Record


class ProbeParams(Declared):
    """Base of every probe's parameters: typed and ranged (pydantic ``Field(ge=..)``, ``Literal``, validators),
    unknown names refused with suggestions, checked when the plan is made (``Probe.with_overrides``)."""


@dataclass
class ProbeContext:
    """Everything one job needs: the wrapped model, the resolved dataset, the engine and the seed."""

    model: Classifier
    dataset: Dataset
    engine: Engine
    seed: int = 0


@dataclass
class ProbeOutput:
    """Records (scalars with conditions) and per-sample outputs (kept so new metrics never re-run a model)."""

    records: list[Record]
    samples: pd.DataFrame | None = None
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoRun:
    """How ``make demo`` runs a probe on a 2-core CPU: its datasets (empty: the probe's), an image budget and
    parameter overrides."""

    datasets: tuple[str, ...] = ()
    limit: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


class Probe(ABC):
    """One measurement over (model, dataset)."""

    name: ClassVar[str]
    summary: ClassVar[str]
    citation: ClassVar[str] = ""
    Params: ClassVar[type[ProbeParams]] = ProbeParams
    # Probes with their own stimuli name them here and ignore --dataset.
    fixed_datasets: ClassVar[tuple[str, ...]] = ()
    # Datasets used when the user names none (probes that take --dataset).
    default_datasets: ClassVar[tuple[str, ...]] = ()
    # Bump when the computation changes, so stored results from older code are not reused.
    version: ClassVar[int] = 1
    # Every record name the probe emits (the contract test checks them); its biases enter the analysis.
    metrics: ClassVar[tuple[Metric, ...]] = ()
    # Where its sections go in the report, among the probes (smaller first; ties by name).
    report_order: ClassVar[int] = 100
    # The demo's runs of this probe (none: the demo leaves it out).
    demo: ClassVar[tuple[DemoRun, ...]] = ()

    def __init__(self, params: ProbeParams | None = None):
        self.params = params if params is not None else self.Params()

    @classmethod
    def with_overrides(cls, overrides: dict[str, Any]) -> Probe:
        """Instantiate with ``--set`` overrides; a ParameterError names each bad one as ``--set PROBE.PARAM``."""
        try:
            return cls(cls.Params(**overrides))
        except ParameterError as e:
            raise e.within(f"--set {cls.name}.") from None

    def datasets(self, requested: tuple[str, ...] = ()) -> tuple[str, ...]:
        """The datasets this probe runs on given the user's ``--dataset`` list."""
        if self.fixed_datasets:
            return self.fixed_datasets
        return requested or self.default_datasets

    def params_dict(self) -> dict[str, Any]:
        return self.params.model_dump(mode="json")

    @abstractmethod
    def run(self, ctx: ProbeContext) -> ProbeOutput:
        """Evaluate the model and return its records."""


PROBES: Registry[type[Probe]] = Registry(
    "probe", packages=("biasbench.probes",), group="biasbench.probes", hint="`biasbench probes` lists them."
)
"""Every probe class by name: the modules of ``biasbench.probes`` and the ``biasbench.probes`` plug-ins."""


def register_probe(cls: type[Probe]) -> type[Probe]:
    """Class decorator adding a probe to the registry under its name; its metrics must name it and each
    other once, and a bias's name must be new among the registered probes' biases (it becomes a column)."""
    names = [m.metric for m in cls.metrics]
    foreign = [m.metric for m in cls.metrics if m.probe != cls.name]
    if foreign or len(set(names)) != len(names):
        raise ValueError(f"probe {cls.name!r}: metrics {foreign or names} must name the probe and be distinct")
    registered = PROBES.registered().values()  # no discovery here: registering must not import the others
    others = {m.metric for p in registered if p.name != cls.name for m in p.metrics if m.role == "bias"}
    clash = others & {m.metric for m in cls.metrics if m.role == "bias"}
    if clash:
        raise ValueError(f"probe {cls.name!r}: bias {sorted(clash)} is already declared by another probe")
    return PROBES.register(cls.name, cls)


def registered_probes() -> list[type[Probe]]:
    """Every registered probe in report order (``report_order``, then name)."""
    return sorted(PROBES.values(), key=lambda p: (p.report_order, p.name))


def declared_metrics(role: str | None = None) -> tuple[Metric, ...]:
    """The metrics every registered probe declares (of ``role`` when given), in report order."""
    return tuple(m for p in registered_probes() for m in p.metrics if role is None or m.role == role)


def declared(probe: str, metric: str) -> Metric:
    """The declaration of ``metric`` of ``probe``."""
    found = {m.metric: m for m in get_probe(probe).metrics}
    if metric not in found:
        raise UnknownNameError(f"metric of probe {probe}", metric, found)
    return found[metric]


def get_probe(name: str) -> type[Probe]:
    """The probe class ``name``; unknown names get suggestions."""
    return PROBES[name]
