"""The Python API: the same operations as the ``biasbench`` command."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from biasbench.core.errors import BiasbenchError
from biasbench.core.paths import resolve_data_root
from biasbench.engine.inference import Engine, EngineConfig
from biasbench.models.sources import ModelSpec
from biasbench.models.wrapper import Classifier
from biasbench.run.executors import get_executor
from biasbench.run.local import Report, RunSummary
from biasbench.run.plan import ModelRef, Step, plan_study
from biasbench.store.results import ResultsStore, load_results

__all__ = ["RunResult", "Step", "load_results", "run", "run_study"]


class RunResult(pd.DataFrame):
    """Records of the run's jobs (a DataFrame) with the run summary attached as ``.summary``."""

    _metadata = ["summary", "step_jobs"]

    @property
    def _constructor(self):
        return RunResult


def _model_refs(models: Sequence[str | Classifier] | Mapping[str, str | Classifier]) -> list[ModelRef]:
    items = models.items() if isinstance(models, Mapping) else [(None, m) for m in models]
    refs = []
    for name, model in items:
        if isinstance(model, Classifier):
            refs.append(ModelRef(name or model.name, module=model))
        else:
            spec = ModelSpec.parse(model)  # validates the spec before any work starts
            refs.append(ModelRef(name or model, spec=spec.text))
    names = [r.name for r in refs]
    if len(set(names)) != len(names):
        raise BiasbenchError(f"model names must be unique, got {names}")
    return refs


def run(
    models: Sequence[str | Classifier] | Mapping[str, str | Classifier],
    probes: Sequence[str],
    out: str | os.PathLike[str],
    *,
    datasets: Sequence[str] = (),
    data_root: str | os.PathLike[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int = 0,
    limit: int | None = None,
    limit_mode: str | None = None,
    engine: EngineConfig | None = None,
    executor: str = "local",
    executor_options: Mapping[str, Any] | None = None,
    report: Report = print,
) -> RunResult:
    """Run every (model, probe, dataset) job not yet in ``out`` and return the records of all of them.

    ``models`` are spec strings (``"timm:resnet50"``, ``"bundled:efficientnet_lite0"``, a zoo name) or
    wrapped ``Classifier`` objects, optionally as a {name: model} mapping. ``params`` overrides probe
    parameters ({"spectral": {"mask": "radial"}}). ``limit`` evaluates N images per dataset, a seeded sample
    balanced over the classes (``limit_mode="first"``: the first N). Failed jobs, among them every job of a
    model that cannot be loaded, are listed in ``result.summary.failed``.
    """
    if not probes:
        raise BiasbenchError("name at least one probe (see `biasbench probes`)")
    step = Step(tuple(probes), tuple(datasets), dict(params or {}), limit, limit_mode)
    return run_study(
        models,
        [step],
        out,
        data_root=data_root,
        seed=seed,
        engine=engine,
        executor=executor,
        executor_options=executor_options,
        report=report,
    )


def run_study(
    models: Sequence[str | Classifier] | Mapping[str, str | Classifier],
    steps: Sequence[Step],
    out: str | os.PathLike[str],
    *,
    data_root: str | os.PathLike[str] | None = None,
    seed: int = 0,
    engine: EngineConfig | None = None,
    executor: str = "local",
    executor_options: Mapping[str, Any] | None = None,
    report: Report = print,
) -> RunResult:
    """Run several :class:`Step` s (each its own probes, datasets, parameters and image limit) as one plan,
    grouped by model across the steps, so each model is loaded once for the whole study.

    Returns the records of every planned job; ``result.summary`` is the run summary and
    ``result.step_jobs`` the jobs of each step (for per-step reporting).

    Everything a user can get wrong is checked before any model loads: the options (each declared with its
    range), the executor, the results directory (writable, not a file), the datasets and every step's probe
    parameters."""
    refs = _model_refs(models)
    engine_obj = Engine(engine or EngineConfig())
    execute = get_executor(executor)
    if executor == "local":
        engine_obj.device  # noqa: B018  (fail before any work when the requested device is absent here)
    store = ResultsStore(Path(out))
    store.prepare()
    root = resolve_data_root(data_root)
    jobs, resolved, step_jobs = plan_study(
        refs, steps, data_root=root, seed=seed, precision=engine_obj.config.precision
    )
    summary: RunSummary = execute(
        jobs, refs, resolved, engine_obj, store, report=report, **dict(executor_options or {})
    )
    records = store.records()
    result = RunResult(records[records["job"].isin({j.key for j in jobs})].reset_index(drop=True))
    result.summary = summary
    result.step_jobs = step_jobs
    return result
