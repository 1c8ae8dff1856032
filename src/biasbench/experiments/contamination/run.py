"""Run (config, seed) jobs of the experiment and write their records to a results directory.

Each (config, seed) gives two jobs, ``train`` (the toy, spec A.2–A.3) and ``distill`` (the analogue,
spec A.4.3), keyed by a digest of the config's parameters, the seed and the code version, so a re-run
skips what is finished and any change of parameters or code makes a new job.
"""

from __future__ import annotations

import importlib.metadata
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace

import pandas as pd
import torch

from biasbench.core.fingerprint import digest
from biasbench.experiments.contamination.configs import ContaminationConfig, get_config
from biasbench.experiments.contamination.data import make_feature_data
from biasbench.experiments.contamination.distill import DistillResult, distill_analogue
from biasbench.experiments.contamination.network import TwoLayerNet
from biasbench.experiments.contamination.rng import stream
from biasbench.experiments.contamination.train import TrainLog, train_toy
from biasbench.store import Record, ResultsStore, records_frame

PROBE = "contamination"
DISTILL_PROBE = "contamination-distill"
DATASET = "synthetic"
# Bump when a change of this package changes its numbers; it is part of every job key.
EXPERIMENT_VERSION = 1


@dataclass(frozen=True)
class Job:
    """One unit of work: a named config, a seed and which part of the experiment."""

    name: str
    config: ContaminationConfig
    seed: int
    kind: str  # "train" or "distill"

    @property
    def model(self) -> str:
        return f"{self.name}/seed{self.seed}"

    @property
    def key(self) -> str:
        params = self.config.params()
        if self.kind == "train":
            params.pop("distill")  # the toy's results do not depend on the analogue's settings
        return digest(
            {
                "experiment": PROBE,
                "kind": self.kind,
                "config": self.name,
                "params": params,
                "seed": self.seed,
                "code": [_package_version(), EXPERIMENT_VERSION],
            }
        )


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
            jobs.append(Job(name, config, seed, "train"))
            if distill and config.distill is not None:
                jobs.append(Job(name, config, seed, "distill"))
    return jobs


def run_contamination(
    names: Sequence[str],
    seeds: int | Sequence[int],
    out: str | os.PathLike[str],
    *,
    progress: bool = False,
    threads: int | None = None,
    on_job: Callable[[Job, bool], None] | None = None,
    **plan_options,
) -> pd.DataFrame:
    """Run the planned jobs (see :func:`plan_jobs`) that are not finished in ``out`` and return the records
    of all planned jobs. ``on_job(job, skipped)`` is called before each job; ``threads`` caps torch's
    intra-op threads for the run (the toy's matrices are small, so 1 is often fastest on a busy CPU)."""
    store = ResultsStore(out)
    jobs = plan_jobs(names, seeds, **plan_options)
    with torch_threads(threads):
        for job in jobs:
            skipped = store.has(job.key)
            if on_job is not None:
                on_job(job, skipped)
            if not skipped:
                _run_job(job, store, progress)
    records = store.records()
    return records[records["job"].isin({job.key for job in jobs})].reset_index(drop=True)


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
        generator=stream(seed, "data"),
    )
    net = TwoLayerNet(
        config.d, config.width, config.act, freeze_head=config.freeze_head, generator=stream(seed, "init")
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
        Record(metric, value, config.width if metric.endswith(("norm", "meandir")) else config.n, f"step/{step}")
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


def _run_job(job: Job, store: ResultsStore, progress: bool) -> None:
    start = time.perf_counter()
    if job.kind == "train":
        log = train_job(job.config, job.seed, progress=progress, desc=job.model)
        frame = records_frame(
            train_records(log, job.config), model=job.model, probe=PROBE, dataset=DATASET, job=job.key
        )
    else:
        frame = distill_frames(distill_analogue(job.config, job.seed, progress=progress), job)
    manifest = {
        "key": job.key,
        "experiment": PROBE,
        "kind": job.kind,
        "config": job.name,
        "model": job.model,
        "seed": job.seed,
        "params": job.config.params(),
        "code": {"biasbench": _package_version(), "experiment": EXPERIMENT_VERSION},
        "torch": torch.__version__,
        "runtime_s": round(time.perf_counter() - start, 3),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    store.write(job.key, frame, None, manifest)


def _package_version() -> str:
    try:
        return importlib.metadata.version("biasbench")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0+source"
