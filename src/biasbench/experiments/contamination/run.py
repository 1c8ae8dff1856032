"""The experiment as jobs of biasbench's runner: planned as keyed :class:`~biasbench.run.plan.Job` s, run by
:func:`~biasbench.run.local.run_jobs` into a results directory with the manifest every job writes.

Each (config, seed) gives two jobs: probe ``contamination`` (the toy, spec A.2–A.3) and
``contamination-distill`` (the analogue, spec A.4.3). A job's "model" is the config and seed
(``default/seed0``), fingerprinted by its parameters; its dataset is the ``synthetic`` data model, fingerprinted
by the data parameters. The key (:func:`~biasbench.run.plan.job_key`) covers the parameters, the seed, the
experiment's version and biasbench's, so a re-run skips what is finished and any change makes a new job.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

import pandas as pd
import torch

from biasbench.core.errors import BiasbenchError
from biasbench.core.fingerprint import digest
from biasbench.core.rng import named_generator
from biasbench.experiments.contamination.configs import ContaminationConfig, get_config
from biasbench.experiments.contamination.data import make_feature_data
from biasbench.experiments.contamination.distill import DistillResult, distill_analogue
from biasbench.experiments.contamination.network import TwoLayerNet
from biasbench.experiments.contamination.train import TrainLog, train_toy
from biasbench.run.execute import write_job
from biasbench.run.local import Report, run_jobs
from biasbench.run.plan import Job, job_key, previous_job_key
from biasbench.store import Record, ResultsStore, records_frame
from biasbench.store.conditions import TrainingStep

PROBE = "contamination"
DISTILL_PROBE = "contamination-distill"
DATASET = "synthetic"
PRECISION = "fp32"  # the toy trains in float32 on the CPU
# Bump when a change of this package changes its numbers; it is part of every job key.
EXPERIMENT_VERSION = 1


def plan_jobs(
    names: Sequence[str],
    seeds: int | Sequence[int],
    *,
    steps: int | None = None,
    distill: bool = True,
    distill_steps: int | None = None,
    **overrides,
) -> list[Job]:
    """The jobs for configs ``names`` and ``seeds`` (a count means 0..seeds-1), with optional overrides
    of the training ``steps``, the distillation steps and any other config field."""
    seed_list = range(seeds) if isinstance(seeds, int) else seeds
    jobs = []
    for name in names:
        config = get_config(name).with_overrides(steps=steps, **overrides)
        if config.distill is not None and distill_steps is not None:
            config = replace(config, distill=replace(config.distill, steps=distill_steps))
        for seed in seed_list:
            jobs.append(contamination_job(name, config, seed, PROBE))
            if distill and config.distill is not None:
                jobs.append(contamination_job(name, config, seed, DISTILL_PROBE))
    return jobs


def contamination_job(name: str, config: ContaminationConfig, seed: int, probe: str) -> Job:
    """The keyed job of config ``name`` (``config``) and ``seed`` for ``probe`` (the toy or the analogue)."""
    params = config.params()
    if probe == PROBE:
        params.pop("distill")  # the toy's results do not depend on the analogue's settings
    model, model_fp, data_fp = f"{name}/seed{seed}", digest(params, 24), digest(config.data_params(), 24)
    parts = {
        "model_fingerprint": model_fp,
        "preprocess": None,
        "dataset_fingerprint": data_fp,
        "probe": probe,
        "version": EXPERIMENT_VERSION,
        "params": params,
        "seed": seed,
        "precision": PRECISION,
    }
    key, previous = job_key(**parts), previous_job_key(model, **parts)
    return Job(model, probe, DATASET, params, seed, None, PRECISION, key, model_fp, data_fp, previous_key=previous)


def run_contamination(
    names: Sequence[str],
    seeds: int | Sequence[int],
    out: str | os.PathLike[str],
    *,
    progress: bool = False,
    threads: int | None = None,
    report: Report = print,
    **plan_options,
) -> pd.DataFrame:
    """Run the planned jobs (see :func:`plan_jobs`) that are not finished in ``out`` and return the records
    of all planned jobs. ``report`` gets the runner's lines (skipped jobs, one line per job run, failures);
    ``threads`` caps torch's intra-op threads for the run (the toy's matrices are small, so 1 is often
    fastest on a busy CPU). A failed job does not stop the others; the run then raises a ``BiasbenchError``."""
    store = ResultsStore(out)
    jobs = plan_jobs(names, seeds, **plan_options)
    with torch_threads(threads):
        summary = run_jobs(jobs, store, partial(execute_contamination, store=store, progress=progress), report)
    if summary.failed:
        failed = "; ".join(f"{job.label}: {error}" for job, error in summary.failed)
        raise BiasbenchError(f"{len(summary.failed)} contamination job(s) failed ({failed})")
    records = store.records()
    return records[records["job"].isin({job.finished_key(store) for job in jobs})].reset_index(drop=True)


def execute_contamination(job: Job, store: ResultsStore, *, progress: bool = False) -> pd.DataFrame:
    """Run one job of :func:`plan_jobs` and write its records and manifest into ``store``; returns its records."""
    started, t0 = datetime.now(UTC), time.perf_counter()
    config = ContaminationConfig.from_params(job.params)
    if job.probe == PROBE:
        log = train_job(config, job.seed, progress=progress, desc=job.model)
        frame = records_frame(train_records(log, config), model=job.model, probe=PROBE, dataset=DATASET, job=job.key)
    else:
        frame = distill_frames(distill_analogue(config, job.seed, progress=progress), job)
    write_job(
        store,
        job,
        frame,
        None,
        version=EXPERIMENT_VERSION,
        started=started,
        wall_time_s=time.perf_counter() - t0,
        device=torch.device("cpu"),
    )
    return frame


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Temporarily set torch's intra-op thread count (no-op for ``None``)."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_job(config: ContaminationConfig, seed: int, *, progress: bool = False, desc: str = "") -> TrainLog:
    """Build the data and network of ``config`` for ``seed`` and train it."""
    data = make_feature_data(
        n=config.n,
        d_core=config.d_core,
        d_bg=config.d_bg,
        d=config.d,
        core=config.core,
        bg_train=config.bg_train,
        bg_test=config.bg_test,
        generator=named_generator(seed, "data"),
    )
    net = TwoLayerNet(
        config.d, config.width, config.act, freeze_head=config.freeze_head, generator=named_generator(seed, "init")
    )
    return train_toy(
        net,
        data,
        loss=config.loss,
        opt=config.opt,
        lr=config.lr,
        wd=config.wd,
        momentum=config.momentum,
        steps=config.steps,
        log_every=config.log_every,
        progress=progress,
        desc=desc or "train",
    )


def train_records(log: TrainLog, config: ContaminationConfig) -> list[Record]:
    """One record per metric and logged step; ``n`` counts points for losses/accuracies, units for norms."""
    return [
        Record(
            metric, value, config.width if metric.endswith(("norm", "meandir")) else config.n, str(TrainingStep(step))
        )
        for metric, values in log.metrics.items()
        for step, value in zip(log.steps, values, strict=True)
    ]


def distill_frames(result: DistillResult, job: Job) -> pd.DataFrame:
    """Records of the analogue: the student (``<model>/student``) and the teacher (``<model>/teacher``)."""
    n = result.n_test
    student = [
        Record("repr_error", result.repr_error_id, n, "id"),
        Record("repr_error", result.repr_error_ood, n, "ood"),
        Record("probe_acc", result.probe_student_id, n, "id"),
        Record("probe_acc", result.probe_student_ood, n, "ood"),
        Record("core_norm", result.student_core_norm, 0, "final"),
        Record("background_norm", result.student_background_norm, 0, "final"),
    ]
    teacher = [
        Record("probe_acc", result.probe_teacher_id, n, "id"),
        Record("probe_acc", result.probe_teacher_ood, n, "ood"),
    ]
    common = {"probe": DISTILL_PROBE, "dataset": DATASET, "job": job.key}
    return pd.concat(
        [
            records_frame(student, model=f"{job.model}/student", **common),
            records_frame(teacher, model=f"{job.model}/teacher", **common),
        ],
        ignore_index=True,
    )
