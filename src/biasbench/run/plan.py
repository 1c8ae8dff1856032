"""The job plan: every (model, probe, dataset) triple of a study, each keyed by a content fingerprint.

A job's key covers everything that can change its numbers: the model's weights fingerprint, its
preprocessing (every field of ``Preprocess`` plus the resize size it implies), the dataset's file list (after
``--limit``), the probe, its version and resolved parameters, the seed, the numeric
precision and biasbench's version. Finished keys are skipped, so a re-run or an extended study runs only
what is new.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from biasbench.core.errors import BiasbenchError
from biasbench.core.fingerprint import digest
from biasbench.core.version import __version__
from biasbench.data.datasets import Dataset, canonical_dataset_name, get_dataset_spec
from biasbench.models.sources import model_fingerprint, model_preprocess
from biasbench.models.wrapper import Classifier
from biasbench.probes.base import Probe, get_probe


@dataclass(frozen=True)
class Job:
    """One unit of work; plain data so it can be shipped to another process or machine."""

    model: str
    probe: str
    dataset: str
    params: dict[str, Any]
    seed: int
    limit: int | None
    precision: str
    key: str
    model_fingerprint: str
    dataset_fingerprint: str

    @property
    def label(self) -> str:
        return f"{self.model} · {self.probe} · {self.dataset}"


@dataclass
class ModelRef:
    """A model named by a spec string, or an in-memory Classifier (API use)."""

    name: str
    spec: str | None = None
    module: Classifier | None = field(default=None, repr=False)
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)
    _preprocess: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def fingerprint(self) -> str:
        """The weights' content fingerprint, computed once per ref (a study plans many steps per model)."""
        if self._fingerprint is None:
            if self.module is not None:
                self._fingerprint = self.module.fingerprint or _module_fingerprint(self.module)
            else:
                self._fingerprint = model_fingerprint(self.spec)
        return self._fingerprint

    def preprocess(self) -> dict[str, Any]:
        """The model's preprocessing as it enters job keys (``Preprocess.as_dict``), resolved once."""
        if self._preprocess is None:
            preprocess = self.module.preprocess if self.module is not None else model_preprocess(self.spec)
            self._preprocess = preprocess.as_dict()
        return self._preprocess


def _module_fingerprint(module: Classifier) -> str:
    from biasbench.core.fingerprint import state_dict_fingerprint

    module.fingerprint = state_dict_fingerprint(module)
    return module.fingerprint


def parse_overrides(items: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``["spectral.mask=radial", "shape-bias.bootstrap_reps=500"]`` → {probe: {param: value}}.

    Values are read as JSON when they parse (numbers, booleans, lists), else kept as strings.
    """
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        target, eq, raw = item.partition("=")
        probe, dot, param = target.partition(".")
        if not eq or not dot or not probe or not param:
            raise BiasbenchError(f"--set expects PROBE.PARAM=VALUE (e.g. spectral.mask=radial), got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(probe, {})[param] = value
    return out


def build_probes(names: Sequence[str], overrides: Mapping[str, Mapping[str, Any]]) -> list[Probe]:
    """Instantiate probes with their overrides; an override for a probe not in the run is an error."""
    for probe_name in overrides:
        if probe_name not in names:
            get_probe(probe_name)  # unknown probe → suggestions
            raise BiasbenchError(f"--set {probe_name}.… given, but probe {probe_name!r} is not in this run")
    return [get_probe(n).with_overrides(dict(overrides.get(n, {}))) for n in names]


def plan_jobs(
    models: Sequence[ModelRef],
    probes: Sequence[Probe],
    datasets: Sequence[str],
    *,
    data_root: Path,
    seed: int = 0,
    limit: int | None = None,
    precision: str = "fp32",
    resolved: Mapping[tuple[str, int | None], Dataset] | None = None,
    partial: bool = False,
) -> tuple[list[Job], dict[tuple[str, int | None], Dataset]]:
    """Expand models × probes × datasets into keyed jobs. Also returns the resolved datasets (after
    ``limit``) so executors do not list them again; ``resolved`` passes datasets already listed.

    A dataset must be complete unless ``partial`` or a ``limit`` is given: then a trimmed copy is measured as
    it is, and its jobs record that they ran on a partial copy."""
    resolved = dict(resolved or {})
    datasets = [canonical_dataset_name(d) for d in datasets]
    for probe in probes:
        for name in probe.datasets(tuple(datasets)):
            if (name, limit) not in resolved:
                spec = get_dataset_spec(name)
                resolved[(name, limit)] = spec.load(data_root, check_count=not (partial or limit)).head(limit)
    needed = {(name, limit) for probe in probes for name in probe.datasets(tuple(datasets))}
    data_fp = {key: resolved[key].fingerprint() for key in needed}
    jobs = []
    for model in models:
        model_fp = model.fingerprint()
        preprocess = model.preprocess()
        for probe in probes:
            params = probe.params_dict()
            for name in probe.datasets(tuple(datasets)):
                key = job_key(
                    name=model.name,
                    model_fingerprint=model_fp,
                    preprocess=preprocess,
                    dataset_fingerprint=data_fp[(name, limit)],
                    probe=probe.name,
                    version=probe.version,
                    params=params,
                    seed=seed,
                    precision=precision,
                )
                jobs.append(
                    Job(
                        model.name,
                        probe.name,
                        name,
                        params,
                        seed,
                        limit,
                        precision,
                        key,
                        model_fp,
                        data_fp[(name, limit)],
                    )
                )
    return jobs, resolved


def job_key(
    *,
    name: str,
    model_fingerprint: str,
    preprocess: Mapping[str, Any] | None,
    dataset_fingerprint: str,
    probe: str,
    version: int,
    params: Mapping[str, Any],
    seed: int,
    precision: str,
) -> str:
    """The content key of a job: a digest of everything that can change its numbers, and of biasbench's version.

    Every planner keys its jobs here: ``plan_jobs`` for (model, probe, dataset) jobs, and experiments whose
    "model" is a training config (``preprocess`` ``None`` where no image preprocessing applies)."""
    parts = {
        "name": name,
        "model": model_fingerprint,
        "preprocess": preprocess,
        "dataset": dataset_fingerprint,
        "probe": [probe, version, params],
        "seed": seed,
        "precision": precision,
        "biasbench": __version__,
    }
    return digest(parts, 24)


@dataclass(frozen=True)
class Step:
    """One block of a study: probes, the datasets they run on, their parameter overrides and an image budget."""

    probes: tuple[str, ...]
    datasets: tuple[str, ...] = ()
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    limit: int | None = None
    partial: bool = False  # measure trimmed copies of the datasets as they are (recorded as partial)


def plan_study(
    models: Sequence[ModelRef],
    steps: Sequence[Step],
    *,
    data_root: Path,
    seed: int = 0,
    precision: str = "fp32",
) -> tuple[list[Job], dict[tuple[str, int | None], Dataset], list[list[Job]]]:
    """Plan several steps as one job list, grouped by model (in ``models`` order) across all steps, so an
    executor loads each model once for the whole study. Returns the jobs (a job planned by two steps appears
    once), the resolved datasets, and each step's own jobs (for per-step reporting)."""
    if not steps:
        raise BiasbenchError("a study needs at least one step")
    resolved: dict[tuple[str, int | None], Dataset] = {}
    per_step: list[list[Job]] = []
    for step in steps:
        if not step.probes:
            raise BiasbenchError("name at least one probe in every step (see `biasbench probes`)")
        probes = build_probes(list(step.probes), step.params)
        jobs, datasets = plan_jobs(
            models,
            probes,
            list(step.datasets),
            data_root=data_root,
            seed=seed,
            limit=step.limit,
            precision=precision,
            resolved=resolved,
            partial=step.partial,
        )
        resolved.update(datasets)
        per_step.append(jobs)
    order = {m.name: i for i, m in enumerate(models)}
    unique = {j.key: j for jobs in per_step for j in jobs}
    return sorted(unique.values(), key=lambda j: order[j.model]), resolved, per_step
