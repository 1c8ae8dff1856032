"""The local executor: runs a job plan in this process, one model loaded at a time."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from biasbench.data.datasets import Dataset
from biasbench.engine.inference import Engine
from biasbench.errors import BiasbenchError
from biasbench.models.sources import load_model
from biasbench.run.execute import execute_job
from biasbench.run.plan import Job, ModelRef
from biasbench.store.results import ResultsStore

Report = Callable[[str], None]


@dataclass
class RunSummary:
    """What a run did: finished, skipped (already in the store) and failed jobs with their errors."""

    finished: list[Job] = field(default_factory=list)
    skipped: list[Job] = field(default_factory=list)
    failed: list[tuple[Job, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def split_finished(jobs: Sequence[Job], store: ResultsStore, report: Report) -> tuple[list[Job], RunSummary]:
    """Pending jobs, and a summary whose ``skipped`` lists the jobs already in the store (reported)."""
    summary = RunSummary(skipped=[j for j in jobs if store.has(j.key)])
    if summary.skipped:
        report(f"skipping {len(summary.skipped)} finished job(s) already in {store.root}")
    return [j for j in jobs if not store.has(j.key)], summary


def run_local(
    jobs: Sequence[Job],
    models: Sequence[ModelRef],
    datasets: dict[tuple[str, int | None], Dataset],
    engine: Engine,
    store: ResultsStore,
    report: Report = print,
) -> RunSummary:
    """Run every unfinished job. A failing job is reported and the run goes on, so nothing computed
    before or after it is lost; re-running retries only what is missing."""
    pending, summary = split_finished(jobs, store, report)
    refs = {m.name: m for m in models}
    total = len(pending)
    done = 0
    for model_name, model_jobs in groupby(pending, key=lambda j: j.model):
        model_jobs = list(model_jobs)
        ref = refs[model_name]
        try:
            model = ref.module if ref.module is not None else load_model(ref.spec)
        except BiasbenchError as e:
            for job in model_jobs:
                summary.failed.append((job, str(e)))
            report(f"cannot load model {model_name}: {e}")
            done += len(model_jobs)
            continue
        for job in model_jobs:
            done += 1
            report(f"[{done}/{total}] {job.label}")
            try:
                execute_job(job, model, datasets[(job.dataset, job.limit)], engine, store)
            except BiasbenchError as e:
                summary.failed.append((job, str(e)))
                report(f"  failed: {e}")
            except Exception as e:  # an unexpected bug in one job must not lose the others
                summary.failed.append((job, f"{type(e).__name__}: {e}"))
                report(f"  failed with an unexpected error:\n{traceback.format_exc()}")
            else:
                summary.finished.append(job)
    return summary
