"""The Python API: the same operations as the ``biasbench`` command."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from biasbench.core.errors import BiasbenchError
from biasbench.core.paths import resolve_data_root
from biasbench.engine.inference import Engine, EngineConfig
from biasbench.models.sources import ModelSpec
from biasbench.models.wrapper import Classifier
from biasbench.run.executors import get_executor
from biasbench.run.imports import ImportResult, import_decisions
from biasbench.run.local import Report, RunSummary
from biasbench.run.plan import ModelRef, Step, plan_study, same_models
from biasbench.store.results import ResultsStore, load_results

__all__ = [
    "ImportResult", "ReportResult", "RunResult", "Step", "import_decisions", "load_results", "make_report", "run",
    "run_study",
]  # fmt: skip


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
    partial: bool = False,
    engine: EngineConfig | None = None,
    executor: str = "local",
    executor_options: Mapping[str, Any] | None = None,
    report: Report = print,
) -> RunResult:
    """Run every (model, probe, dataset) job not yet in ``out`` and return the records of all of them.

    ``models`` are spec strings (``"timm:resnet50"``, ``"bundled:efficientnet_lite0"``, a zoo name) or
    wrapped ``Classifier`` objects, optionally as a {name: model} mapping. ``datasets`` are registered names or
    ``"folder:PATH"`` for your own images. ``params`` overrides probe parameters ({"spectral": {"mask":
    "radial"}}). ``limit`` evaluates N images per dataset, a seeded sample balanced over the classes
    (``limit_mode="first"``: the first N). ``partial`` measures a trimmed copy of a dataset (e.g. one ImageNet-C
    corruption) instead of refusing it; such jobs are recorded as partial. Failed jobs, among them every job of
    a model that cannot be loaded, are listed in ``result.summary.failed``.
    """
    if not probes:
        raise BiasbenchError("name at least one probe (see `biasbench probes`)")
    step = Step(tuple(probes), tuple(datasets), dict(params or {}), limit, limit_mode, partial)
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
    for name, measured in same_models(jobs, step_jobs).items():
        report(f"{name} is the same model as {measured} (the same weights, preprocessing and head): measured once, "
               f"as {measured}")  # fmt: skip
    summary: RunSummary = execute(
        jobs, refs, resolved, engine_obj, store, report=report, **dict(executor_options or {})
    )
    records = store.records()
    result = RunResult(records[records["job"].isin({j.finished_key(store) for j in jobs})].reset_index(drop=True))
    result.summary = summary
    result.step_jobs = step_jobs
    return result


def categories_for(records: pd.DataFrame, path: str | os.PathLike[str] | None) -> pd.Series | None:
    """Model categories: the JSON ``{category: [model, ...]}`` at ``path``, else the zoo files' categories of
    the models named after zoo entries, else None."""
    from biasbench.analysis.released import read_categories
    from biasbench.models.zoo import zoo_categories

    if path:
        return read_categories(path)
    known = zoo_categories()
    return known[known.index.isin(records["model"])] if known.index.isin(records["model"]).any() else None


def selector_for(directory: str | os.PathLike[str], prefer: Sequence[str] | None = None):
    """The job selector of a results directory (its manifests) with the user's ``--prefer`` choices."""
    from biasbench.analysis.selection import JobSelector, parse_preferences

    return JobSelector(ResultsStore(directory).manifests_by_job(), parse_preferences(prefer or ()))


@dataclass
class ReportResult:
    """The written report, the analysis it shows and, with a context, the released study it places the models in."""

    path: Path
    analysis: Any
    context: Any = None


def make_report(
    directory: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    *,
    categories: str | os.PathLike[str] | None = None,
    context: str | None = None,
    data_root: str | os.PathLike[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    prefer: Sequence[str] | None = None,
    title: str = "biasbench report",
) -> ReportResult:
    """Analyse a results directory into one self-contained HTML report (``out``, default DIR/report.html), as
    ``biasbench report DIR``. ``context="gavrikov2024"`` places the models among the released 48 ResNet-50s of
    Gavrikov & Keuper (CVPR 2024), read from the data root, under the comparability rules of
    ``biasbench.analysis.comparability``."""
    from biasbench.analysis.context import load_context
    from biasbench.analysis.failure_factors import report_failure_factors
    from biasbench.analysis.humans import HumanData
    from biasbench.analysis.pipeline import analyse
    from biasbench.report.html import write_report

    records = load_results(directory)
    if records.empty:
        raise BiasbenchError(f"{directory} holds no finished jobs; run `biasbench run ... --out {directory}` first")
    cats = categories_for(records, categories)
    selector = selector_for(directory, prefer)
    study = None
    if context:
        study = load_context(context, data_root, n_boot=n_boot, seed=seed)
    analysis = analyse(
        records, cats, n_boot=n_boot, seed=seed, selector=selector, humans=HumanData(directory, data_root)
    )
    analysis.failure_factors, notes = report_failure_factors(  # from the stored ImageNet-val predictions
        directory, selector=selector, categories=cats, n_boot=n_boot, seed=seed
    )
    analysis.notes.extend(notes)
    path = write_report(analysis, out or Path(directory) / "report.html", title, context=study)
    return ReportResult(path, analysis, study)
