"""The local executor: runs a job plan in this process, one model loaded at a time (``run_jobs``: jobs that
load no model, such as experiments on synthetic data)."""

from __future__ import annotations

import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from biasbench.core.errors import BiasbenchError, user_message
from biasbench.data.datasets import Dataset
from biasbench.engine.inference import Engine
from biasbench.models.sources import load_model
from biasbench.models.wrapper import Classifier
from biasbench.run.execute import execute_job
from biasbench.run.plan import DataKey, Job, ModelRef
from biasbench.store.results import ResultsStore

Report = Callable[[str], None]


@dataclass
class RunSummary:
    """What a run did: finished, skipped (already in the store) and failed jobs with their errors."""

    finished: list[Job] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)
    failed: list[tuple[Job, str]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # job key → wall time (local executor)
    load_seconds: dict[str, float] = field(default_factory=dict)  # model name → wall time of its load

    @property
    def ok(self) -> bool:
        return not self.failed


def split_finished(jobs: Sequence[Job], store: ResultsStore, report: Report) -> tuple[list[Job], RunSummary]:
    """Pending jobs, and a summary whose ``skipped`` lists the jobs already in the store (reported; also those an
    earlier version finished, ``Job.finished_key``). A job whose files are damaged is pending again (reported with
    the file), and its rewrite replaces them. Keys hold no model name, so a renamed model finds its jobs: they keep
    the name they were computed under, which is reported."""
    summary, pending = RunSummary(), []
    stored_as: dict[tuple[str, str], int] = {}
    for job in jobs:
        damage = store.damage(job.key)
        if damage:
            report(f"job {job.label} is damaged ({damage[0]}); computing it again")
        found = None if damage else job.finished_key(store)
        (pending if found is None else summary.skipped).append(job)
        name = store.manifest(found).get("model", job.model) if found is not None else job.model
        if name != job.model:
            stored_as[job.model, name] = stored_as.get((job.model, name), 0) + 1
    if summary.skipped:
        report(f"skipping {len(summary.skipped)} finished job(s) already in {store.root}")
    for (model, name), count in stored_as.items():
        report(f"{model}: {count} of them finished as {name!r} (the same weights, preprocessing and head), whose name "
               "their records keep")  # fmt: skip
    return pending, summary


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


class Progress:
    """Elapsed time and an ETA for a job list. A job's expected time is the mean time of the jobs already run
    with the same probe, dataset, limit and parameters (a study repeats that mix per model), else the mean of
    all jobs; each model still to load adds the mean load time."""

    def __init__(self, jobs: Sequence[Job]):
        self.jobs = list(jobs)
        self.start = time.perf_counter()
        self.times: dict[tuple, list[float]] = defaultdict(list)
        self.loads: list[float] = []

    @staticmethod
    def kind(job: Job) -> tuple:
        return job.probe, job.data_key, repr(sorted(job.params.items()))

    def done(self, job: Job, seconds: float) -> None:
        self.times[self.kind(job)].append(seconds)

    def loaded(self, seconds: float) -> None:
        self.loads.append(seconds)

    def line(self, position: int) -> str:
        """``elapsed 1:02, ETA 3:10`` before running ``self.jobs[position]`` (ETA only once a job has run)."""
        elapsed = time.perf_counter() - self.start
        seen = [t for ts in self.times.values() for t in ts]
        if not seen:
            return f"elapsed {_clock(elapsed)}"
        overall = sum(seen) / len(seen)
        rest = self.jobs[position:]
        left = sum((sum(ts) / len(ts)) if (ts := self.times.get(self.kind(j))) else overall for j in rest)
        if self.loads and rest:
            models_to_load = len({j.model for j in rest} - {self.jobs[position - 1].model} if position else set())
            left += models_to_load * sum(self.loads) / len(self.loads)
        return f"elapsed {_clock(elapsed)}, ETA {_clock(left)}"


def run_local(
    jobs: Sequence[Job],
    models: Sequence[ModelRef],
    datasets: dict[DataKey, Dataset],
    engine: Engine,
    store: ResultsStore,
    report: Report = print,
) -> RunSummary:
    """Run every unfinished job. A failing job is reported and the run goes on, so nothing computed
    before or after it is lost; re-running retries only what is missing. A model that cannot be keyed or
    loaded fails its own jobs (with the reason), and the next model runs."""
    pending, summary = split_finished(jobs, store, report)
    refs = {m.name: m for m in models}
    total = len(pending)
    done = 0
    progress = Progress(pending)
    for model_name, model_jobs in groupby(pending, key=lambda j: j.model):
        model_jobs = list(model_jobs)
        ref = refs[model_name]
        t0 = time.perf_counter()
        model = _load(ref, report)
        if model is None:
            summary.failed += [(job, f"cannot load model {model_name}: {ref.error}") for job in model_jobs]
            done += len(model_jobs)
            continue
        summary.load_seconds[model_name] = time.perf_counter() - t0
        progress.loaded(summary.load_seconds[model_name])
        run_on = lambda j, m=model: execute_job(j, m, datasets[j.data_key], engine, store)  # noqa: E731
        for job in model_jobs:
            _attempt(job, run_on, done, total, summary, progress, report)
            done += 1
        engine.memo.clear()  # the model's clean passes end with its jobs (and release the model)
    return summary


def _load(ref: ModelRef, report: Report) -> Classifier | None:
    """The model of ``ref``, or None with the reason in ``ref.error`` (reported; an unexpected error with its
    traceback, as a bug)."""
    if ref.error is None:
        try:
            return ref.module if ref.module is not None else load_model(ref.spec)
        except (BiasbenchError, OSError) as e:
            ref.error = user_message(e) or str(e)
        except Exception as e:  # a library's own error for this one model: its jobs fail, the run goes on
            ref.error, ref.trace = f"{type(e).__name__}: {e}", traceback.format_exc()
    report(f"cannot load model {ref.name}: {ref.error}" + (f"\n{ref.trace}" if ref.trace else ""))
    return None


def run_jobs(
    jobs: Sequence[Job], store: ResultsStore, execute: Callable[[Job], object], report: Report = print
) -> RunSummary:
    """Run every unfinished job with ``execute(job)``, which writes the job into ``store`` (with
    ``execute.write_job``): the executor of jobs that load no model or dataset, such as the experiments on
    synthetic data. Skipping finished jobs, progress lines and failure handling are those of ``run_local``."""
    pending, summary = split_finished(jobs, store, report)
    progress = Progress(pending)
    for position, job in enumerate(pending):
        _attempt(job, execute, position, len(pending), summary, progress, report)
    return summary


def _attempt(
    job: Job,
    execute: Callable[[Job], object],
    position: int,
    total: int,
    summary: RunSummary,
    progress: Progress,
    report: Report,
) -> None:
    """Run ``execute(job)``, recording the job as finished or failed (a failure never stops the run) and timed."""
    report(f"[{position + 1}/{total}] {job.label} ({progress.line(position)})")
    t0 = time.perf_counter()
    try:
        execute(job)
    except (BiasbenchError, OSError) as e:  # a user's error, or the system's (a full disk, a permission)
        message = user_message(e) or str(e)
        summary.failed.append((job, message))
        report(f"  failed: {message}")
    except Exception as e:  # an unexpected bug in one job must not lose the others
        summary.failed.append((job, f"{type(e).__name__}: {e}"))
        report(f"  failed with an unexpected error:\n{traceback.format_exc()}")
    else:
        summary.finished.append(job)
    summary.seconds[job.key] = time.perf_counter() - t0
    progress.done(job, summary.seconds[job.key])
