"""The job plan: every (model, probe, dataset) triple of a study, each keyed by a content fingerprint.

A job's key covers everything that can change its numbers: the model's content (its weights fingerprint, which
covers its head, and its preprocessing: every field of ``Preprocess`` plus the resize size it implies), the
dataset's file list (after ``--limit``; a balanced ``--limit`` sample also names its limit and mode), the probe,
its version and resolved parameters, the seed, the numeric precision and biasbench's version. It never holds the
model's display name (that is in the manifest and the records), so renaming a model keeps its results. Finished
keys are skipped, so a re-run or an extended study runs only what is new; a job finished under the key earlier
versions gave it (``previous_job_key``: with the display name) counts as finished too.

Every option is checked when the plan is made, before any model loads: probe parameters by their declared
``Params``, the image budget by ``SampleOptions``. A model whose weights cannot be fingerprinted (a missing
checkpoint, an unknown architecture) does not stop the plan: its jobs are planned under a provisional key and
fail with the reason when the executor reaches them, so the other models still run.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import NonNegativeInt, PositiveInt, model_validator

from biasbench.core.errors import BiasbenchError, user_message
from biasbench.core.fingerprint import digest
from biasbench.core.validation import Declared
from biasbench.core.version import __version__
from biasbench.data.datasets import Dataset, canonical_dataset_name, get_dataset_spec
from biasbench.data.pixels.sampling import Limited, limited
from biasbench.models.sources import model_fingerprint, model_preprocess
from biasbench.models.wrapper import Classifier
from biasbench.probes.base import Probe, get_probe
from biasbench.store.results import ResultsStore


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
    limit_mode: str | None = None  # the --limit-mode asked for ("balanced", "first"); None without a limit
    previous_key: str | None = None  # the key earlier versions gave this job (``previous_job_key``)

    @property
    def label(self) -> str:
        return f"{self.model} · {self.probe} · {self.dataset}"

    def finished_key(self, store: ResultsStore) -> str | None:
        """The key this job's finished files are stored under in ``store``: its own, or ``previous_key`` for a job
        an earlier version ran; None when it has not finished."""
        return next((k for k in (self.key, self.previous_key) if k is not None and store.has(k)), None)

    @property
    def data_key(self) -> DataKey:
        """The key of the job's resolved dataset among a plan's datasets."""
        return self.dataset, self.limit, self.limit_mode


DataKey = tuple[str, int | None, str | None]


class SampleOptions(Declared):
    """The image budget of a study step, declared: ``--limit N`` (≥ 1) images per dataset, sampled by
    ``--limit-mode`` (``balanced``, the default, or ``first``), with the run's ``--seed`` (≥ 0)."""

    option_names: ClassVar[Mapping[str, str]] = {"limit": "--limit", "limit_mode": "--limit-mode", "seed": "--seed"}

    limit: PositiveInt | None = None
    limit_mode: Literal["balanced", "first"] | None = None  # None: balanced
    seed: NonNegativeInt = 0

    @model_validator(mode="after")
    def _mode_needs_limit(self) -> SampleOptions:
        if self.limit_mode is not None and self.limit is None:
            raise ValueError("--limit-mode says how --limit samples; give --limit N too, or drop --limit-mode")
        return self


@dataclass
class ModelRef:
    """A model named by a spec string, or an in-memory Classifier (API use)."""

    name: str
    spec: str | None = None
    module: Classifier | None = field(default=None, repr=False)
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)
    _preprocess: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)
    # Why the model cannot be keyed (so not loaded either): its jobs fail with this, the plan goes on.
    error: str | None = field(default=None, init=False, repr=False, compare=False)
    trace: str = field(default="", init=False, repr=False, compare=False)  # traceback of an unexpected error

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

    def identity(self) -> tuple[str, dict[str, Any] | None]:
        """(weights fingerprint, preprocessing) for job keys. When they cannot be computed (a missing or damaged
        checkpoint, an unknown architecture, weights not cached offline) the reason is kept in ``error`` and a
        provisional identity returned: the model's jobs are planned, and fail with that reason."""
        if self.error is None:
            try:
                return self.fingerprint(), self.preprocess()
            except (BiasbenchError, OSError) as e:
                self.error = user_message(e) or str(e)
            except Exception as e:  # a library's own error for this one model; shown with its traceback
                self.error, self.trace = f"{type(e).__name__}: {e}", traceback.format_exc()
        return digest(["unkeyed model", self.name]), None


def _module_fingerprint(module: Classifier) -> str:
    """A hand-built model's content: its parameters and buffers and, unless it is ImageNet's, its head (which
    classes the logits stand for; a source's fingerprint covers the head it builds). An ImageNet head adds
    nothing, so such a model keeps the fingerprint earlier versions gave it."""
    from biasbench.core.fingerprint import state_dict_fingerprint

    weights = state_dict_fingerprint(module)
    module.fingerprint = weights if module.head == "imagenet" else digest([weights, module.head])
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
    limit_mode: str | None = None,
    precision: str = "fp32",
    resolved: Mapping[DataKey, Dataset] | None = None,
    partial: bool = False,
) -> tuple[list[Job], dict[DataKey, Dataset]]:
    """Expand models × probes × datasets into keyed jobs. Also returns the resolved datasets (after ``limit``,
    keyed by ``Job.data_key``) so executors do not list them again; ``resolved`` passes datasets already
    listed. ``limit_mode`` (default balanced) says how ``limit`` samples, seeded by ``seed``.

    A dataset must be complete unless ``partial`` or a ``limit`` is given: then a trimmed copy is measured as
    it is, and its jobs record that they ran on a partial copy."""
    options = SampleOptions(limit=limit, limit_mode=limit_mode, seed=seed)
    mode = (options.limit_mode or "balanced") if limit is not None else None
    resolved = dict(resolved or {})
    datasets = [canonical_dataset_name(d) for d in datasets]
    names = list(dict.fromkeys(name for probe in probes for name in probe.datasets(tuple(datasets))))
    for name in names:
        if (name, limit, mode) not in resolved:
            spec = get_dataset_spec(name)
            dataset = spec.load(data_root, check_count=not (partial or limit))
            resolved[(name, limit, mode)] = limited(dataset, limit, mode, seed)
    data_fp = {name: resolved[(name, limit, mode)].fingerprint() for name in names}
    jobs = []
    for model in models:
        model_fp, preprocess = model.identity()
        for probe in probes:
            params = probe.params_dict()
            for name in probe.datasets(tuple(datasets)):
                dataset = resolved[(name, limit, mode)]
                parts = {
                    "model_fingerprint": model_fp,
                    "preprocess": preprocess,
                    "dataset_fingerprint": data_fp[name],
                    "probe": probe.name,
                    "version": probe.version,
                    "params": params,
                    "seed": seed,
                    "precision": precision,
                    "sample": sample_key(dataset),
                }
                key, previous = job_key(**parts), previous_job_key(model.name, **parts)
                job = Job(model.name, probe.name, name, params, seed, limit, precision, key, model_fp, data_fp[name])
                jobs.append(replace(job, limit_mode=mode, previous_key=previous))
    return jobs, resolved


def sample_key(dataset: Dataset) -> dict[str, Any] | None:
    """What a balanced ``--limit`` adds to a job key (its limit and mode); None for a whole dataset and for a
    first-N cut, whose keys are those of earlier biasbench versions (so their stored jobs are still found)."""
    if isinstance(dataset, Limited) and dataset.mode != "first":
        return {"limit": dataset.limit, "mode": dataset.mode}
    return None


def _key_parts(
    *,
    model_fingerprint: str,
    preprocess: Mapping[str, Any] | None,
    dataset_fingerprint: str,
    probe: str,
    version: int,
    params: Mapping[str, Any],
    seed: int,
    precision: str,
    sample: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    parts = {
        "model": model_fingerprint,
        "preprocess": preprocess,
        "dataset": dataset_fingerprint,
        "probe": [probe, version, params],
        "seed": seed,
        "precision": precision,
        "biasbench": __version__,
    }
    if sample is not None:  # only when given, so every other key stays what it was
        parts["sample"] = dict(sample)
    return parts


def job_key(**parts: Any) -> str:
    """The content key of a job: a digest of everything that can change its numbers, and of biasbench's version.
    ``parts``: ``model_fingerprint`` and ``preprocess`` (the model's content, never its display name),
    ``dataset_fingerprint``, ``probe``, ``version``, ``params``, ``seed``, ``precision`` and, for a balanced
    ``--limit`` sample, ``sample``.

    Every planner keys its jobs here: ``plan_jobs`` for (model, probe, dataset) jobs, and experiments whose
    "model" is a training config (``preprocess`` ``None`` where no image preprocessing applies)."""
    return digest(_key_parts(**parts), 24)


def previous_job_key(name: str, **parts: Any) -> str:
    """The key biasbench gave a job before keys left out the model's display name ``name`` (the same ``parts``
    plus the name): a job finished under it is reused (``Job.finished_key``), so results directories written then
    keep working; renaming such a model computes its jobs once more, under the new key."""
    return digest({**_key_parts(**parts), "name": name}, 24)


@dataclass(frozen=True)
class Step:
    """One block of a study: probes, the datasets they run on, their parameter overrides and an image budget."""

    probes: tuple[str, ...]
    datasets: tuple[str, ...] = ()
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    limit: int | None = None
    limit_mode: str | None = None  # "balanced" (default) or "first": how ``limit`` samples
    partial: bool = False  # measure trimmed copies of the datasets as they are (recorded as partial)

    def __post_init__(self):
        SampleOptions(limit=self.limit, limit_mode=self.limit_mode)  # refused here, before any work


def plan_study(
    models: Sequence[ModelRef],
    steps: Sequence[Step],
    *,
    data_root: Path,
    seed: int = 0,
    precision: str = "fp32",
) -> tuple[list[Job], dict[DataKey, Dataset], list[list[Job]]]:
    """Plan several steps as one job list, grouped by model (in ``models`` order) across all steps, so an
    executor loads each model once for the whole study. Returns the jobs (a job planned by two steps, or for two
    names of one model, appears once), the resolved datasets, and each step's own jobs (for per-step reporting)."""
    if not steps:
        raise BiasbenchError("a study needs at least one step")
    SampleOptions(seed=seed)
    built = []
    for step in steps:  # every step's parameters are checked before any dataset is listed or model keyed
        if not step.probes:
            raise BiasbenchError("name at least one probe in every step (see `biasbench probes`)")
        built.append(build_probes(list(step.probes), step.params))
    resolved: dict[DataKey, Dataset] = {}
    per_step: list[list[Job]] = []
    for step, probes in zip(steps, built, strict=True):
        jobs, datasets = plan_jobs(
            models,
            probes,
            list(step.datasets),
            data_root=data_root,
            seed=seed,
            limit=step.limit,
            limit_mode=step.limit_mode,
            precision=precision,
            resolved=resolved,
            partial=step.partial,
        )
        resolved.update(datasets)
        per_step.append(jobs)
    order = {m.name: i for i, m in enumerate(models)}
    unique: dict[str, Job] = {}
    for job in (j for jobs in per_step for j in jobs):  # one model under two names is measured once, as the first
        unique.setdefault(job.key, job)
    return sorted(unique.values(), key=lambda j: order[j.model]), resolved, per_step


def same_models(jobs: Sequence[Job], step_jobs: Sequence[Sequence[Job]]) -> dict[str, str]:
    """Model names of a study that name a model measured under another name (the same weights, preprocessing and
    head; ``plan_study`` keeps the first) → that name."""
    measured = {j.key: j.model for j in jobs}
    return {j.model: measured[j.key] for step in step_jobs for j in step if measured[j.key] != j.model}
